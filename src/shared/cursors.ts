/**
 * Connection cursors: the sort key values of an item, opaque to clients (base64url JSON).
 * Dates travel as ISO strings and are revived by the caller, who knows the sort field.
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
