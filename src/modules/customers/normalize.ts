import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';
import { z } from 'zod';

const emailSchema = z.email();

export class InvalidFieldError extends Error {
  override name = 'InvalidFieldError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** Trimmed and lower-cased; refused unless it is an email address. */
export function normalizeEmail(raw: string): string {
  const email = raw.trim().toLowerCase();
  if (email.length > 254 || !emailSchema.safeParse(email).success)
    throw new InvalidFieldError('email', `"${raw}" is not an email address`);
  return email;
}

/** E.164 (`+821012345678`); a number without a country code is read in the default region. */
export function normalizePhone(raw: string, region: string): string {
  const phone = parsePhoneNumberFromString(raw.trim(), region as CountryCode);
  if (!phone?.isValid())
    throw new InvalidFieldError('phone', `"${raw}" is not a valid phone number for region ${region}`);
  return phone.number;
}

export function normalizeName(raw: string): string {
  const name = raw.trim().replace(/\s+/g, ' ');
  if (!name) throw new InvalidFieldError('name', 'name must not be empty');
  if (name.length > 200) throw new InvalidFieldError('name', 'name must be at most 200 characters');
  return name;
}

export function normalizeTags(raw: string[]): string[] {
  const tags = [...new Set(raw.map((t) => t.trim()).filter(Boolean))];
  if (tags.length > 50) throw new InvalidFieldError('tags', 'at most 50 tags');
  if (tags.some((t) => t.length > 50)) throw new InvalidFieldError('tags', 'a tag must be at most 50 characters');
  return tags;
}

/**
 * Marks the search keys that come from contact details (e-mail, phone): only roles that see
 * those unmasked may search them, so a masked value cannot be recovered by prefix guessing.
 */
export const CONTACT_KEY = '\u0002';

/**
 * Lower-case strings a prefix search matches: the name and each word, the code, and — marked
 * with CONTACT_KEY — the e-mail and the phone digits.
 */
export function searchKeysFor(
  c: { name: string; email?: string | null; phone?: string | null; code: string },
  region: string,
): string[] {
  const keys = new Set<string>();
  const name = c.name.toLowerCase();
  keys.add(name);
  for (const word of name.split(' ')) keys.add(word);
  keys.add(c.code.toLowerCase());
  if (c.email) keys.add(CONTACT_KEY + c.email);
  if (c.phone) {
    keys.add(CONTACT_KEY + c.phone.slice(1)); // 821012345678
    const parsed = parsePhoneNumberFromString(c.phone, region as CountryCode);
    if (parsed) keys.add(CONTACT_KEY + parsed.formatNational().replace(/\D/g, '')); // 01012345678
  }
  return [...keys];
}

/**
 * The forms of a search text to match against searchKeys as prefixes: the text itself (names,
 * codes), and for a role that sees contact details unmasked, the text and its digits among the
 * contact keys.
 */
export function searchPrefixes(text: string, opts: { contactDetails: boolean }): string[] {
  // Control characters never belong to a search (and CONTACT_KEY is one).
  const printable = [...text].filter((ch) => ch.charCodeAt(0) >= 0x20).join('');
  const lower = printable.trim().toLowerCase().replace(/\s+/g, ' ');
  if (!lower) return [];
  const prefixes = new Set([lower]);
  if (opts.contactDetails) {
    prefixes.add(CONTACT_KEY + lower);
    const digits = lower.replace(/[\s\-().+]/g, '');
    if (/^\d+$/.test(digits)) prefixes.add(CONTACT_KEY + digits);
  }
  return [...prefixes];
}
