/**
 * Exact money: integer minor units in one deployment currency. Decimal strings in, decimal
 * strings out, never a float in between.
 */
export type Money = { amount: string; currency: string };

export class MoneyError extends Error {
  override name = 'MoneyError';
}

/** Digits after the decimal point for a currency: KRW 0, USD 2, BHD 3. */
export function currencyExponent(currency: string): number {
  // Building a NumberFormat costs more than the rest of a money field: asked once per currency.
  let exponent = exponents.get(currency);
  if (exponent === undefined) {
    exponent =
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ?? 2;
    exponents.set(currency, exponent);
  }
  return exponent;
}
const exponents = new Map<string, number>();

const DECIMAL = /^(\d{1,16})(?:\.(\d{1,6}))?$/;

/** "15000" → 15000 (KRW); "12.5" → 1250 (USD). Refuses negatives, excess precision and overflow. */
export function parseAmount(text: string, currency: string): number {
  const m = DECIMAL.exec(text.trim());
  if (!m) throw new MoneyError(`"${text}" is not a decimal amount such as 15000 or 12.50`);
  const exponent = currencyExponent(currency);
  const fraction = m[2] ?? '';
  if (fraction.replace(/0+$/, '').length > exponent) {
    throw new MoneyError(`${currency} amounts have ${exponent === 0 ? 'no' : `at most ${exponent}`} decimal places`);
  }
  const minor =
    BigInt(m[1]!) * 10n ** BigInt(exponent) + BigInt(fraction.padEnd(exponent, '0').slice(0, exponent) || '0');
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) throw new MoneyError(`"${text}" is too large`);
  return Number(minor);
}

export function formatAmount(minor: number, currency: string): string {
  const exponent = currencyExponent(currency);
  const negative = minor < 0;
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  const whole = exponent === 0 ? digits : digits.slice(0, -exponent);
  const fraction = exponent === 0 ? '' : `.${digits.slice(-exponent)}`;
  return `${negative ? '-' : ''}${whole}${fraction}`;
}

export function toMoney(minor: number, currency: string): Money {
  return { amount: formatAmount(minor, currency), currency };
}
