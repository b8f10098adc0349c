/** Numbers and dates as the viewer reads them: their locale's grouping, money in its currency. */
import type { Money } from './api.js';

const LOCALE = navigator.language;
const grouped = new Intl.NumberFormat(LOCALE);
const percentFormat = new Intl.NumberFormat(LOCALE, {
  style: 'percent',
  minimumFractionDigits: 1,
  maximumFractionDigits: 1,
});
const dateTimeFormat = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium', timeStyle: 'short' });
const dayFormat = new Intl.DateTimeFormat(LOCALE, { dateStyle: 'medium' });

export function count(n: number): string {
  return grouped.format(n);
}

/** A ratio from 0 to 1 with one decimal, e.g. 12.5%. */
export function percent(x: number): string {
  return percentFormat.format(x);
}

/** An amount of the API (a decimal string in major units) in its currency, e.g. ₩1,234,567. */
export function money(m: Money): string {
  return new Intl.NumberFormat(LOCALE, { style: 'currency', currency: m.currency }).format(Number(m.amount));
}

/** A moment of the API (an ISO string) in the viewer's locale and time zone. */
export function dateTime(iso: string): string {
  return dateTimeFormat.format(new Date(iso));
}

export function day(iso: string): string {
  return dayFormat.format(new Date(iso));
}

/** A short amount for a chart's axis, e.g. ₩12M. */
export function compactMoney(amount: number, currency: string): string {
  return new Intl.NumberFormat(LOCALE, { style: 'currency', currency, notation: 'compact' }).format(amount);
}

/** A count with its noun: "1 campaign", "2,000 campaigns". */
export function counted(n: number, noun: string): string {
  return `${count(n)} ${n === 1 ? noun : `${noun}s`}`;
}
