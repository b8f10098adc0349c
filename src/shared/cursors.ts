import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';

/**
 * Connection cursors: the sort key values of an item (base64url JSON), as services build and
 * read them. Dates travel as ISO strings and are revived by the caller, who knows the sort field.
 * Clients never see these: the API seals every cursor it hands out (see CursorSealer).
 */
export type CursorValue = string | number | null;

export function encodeCursor(values: CursorValue[]): string {
  return Buffer.from(JSON.stringify(values), 'utf8').toString('base64url');
}

/** The values, or null when the cursor is not one we issued (wrong shape or length). */
export function decodeCursor(cursor: string, length: number): CursorValue[] | null {
  if (cursor.length > 1000) return null;
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (!Array.isArray(values) || values.length !== length) return null;
    if (!values.every((v) => v === null || typeof v === 'string' || typeof v === 'number')) return null;
    return values as CursorValue[];
  } catch {
    return null;
  }
}

export const MAX_PAGE_SIZE = 100;

/**
 * Seals cursors for clients and opens them again: AES-256-GCM, so a cursor shows nothing of the
 * sort values inside (a total a role may not see, say) and any change to it is detected. `list`
 * names the list a cursor belongs to and is authenticated with it, so a cursor of one list is
 * refused by another.
 */
export type CursorSealer = {
  seal(cursor: string, list: string): string;
  /** The cursor inside, or null when `sealed` was not sealed for `list` with this secret. */
  open(sealed: string, list: string): string | null;
};

const IV_BYTES = 12;
const TAG_BYTES = 16;
const MAX_SEALED_LENGTH = 2000;

/** Keys derived from the server secret: every process sharing the secret reads the others' cursors. */
export function createCursorSealer(secret: Uint8Array): CursorSealer {
  const key = Buffer.from(hkdfSync('sha256', secret, 'pulse-crm', 'cursor encryption', 32));
  const ivKey = Buffer.from(hkdfSync('sha256', secret, 'pulse-crm', 'cursor iv', 32));
  return {
    seal(cursor, list) {
      // A synthetic IV (an HMAC of the list and the cursor): the same item has the same cursor on
      // every process and in every response (clients and tests compare them), and two different
      // cursors never share an IV, which is what GCM needs.
      const iv = createHmac('sha256', ivKey).update(list).update('\0').update(cursor).digest().subarray(0, IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(list, 'utf8'));
      const sealed = Buffer.concat([cipher.update(cursor, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, sealed, cipher.getAuthTag()]).toString('base64url');
    },
    open(sealed, list) {
      if (sealed.length > MAX_SEALED_LENGTH) return null;
      const bytes = Buffer.from(sealed, 'base64url');
      if (bytes.length < IV_BYTES + TAG_BYTES || bytes.toString('base64url') !== sealed) return null;
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, IV_BYTES));
        decipher.setAAD(Buffer.from(list, 'utf8'));
        decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
        const cursor = Buffer.concat([
          decipher.update(bytes.subarray(IV_BYTES, bytes.length - TAG_BYTES)),
          decipher.final(),
        ]);
        return cursor.toString('utf8');
      } catch {
        return null;
      }
    },
  };
}
