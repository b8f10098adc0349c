export const HOUR_MS = 3_600_000;

/** The start of the hour `at` falls in, in ms. */
export function startOfHour(at: Date): number {
  return Math.floor(at.getTime() / HOUR_MS) * HOUR_MS;
}

/** The hour `at` falls in, as ISO text: complaint counts and once-an-hour alerts are keyed by it. */
export function hourOf(at: Date): string {
  return new Date(startOfHour(at)).toISOString();
}
