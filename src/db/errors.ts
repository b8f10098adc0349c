/** MongoDB's duplicate key error: a unique index (or `_id`) refused the write. */
export const DUPLICATE_KEY = 11000;

export function isDuplicateKeyError(err: unknown): boolean {
  return (err as { code?: number } | null)?.code === DUPLICATE_KEY;
}

/**
 * The positions an unordered bulk insert refused as duplicates, or null when it failed for
 * any other reason (then the caller rethrows).
 */
export function duplicateIndexesOf(err: unknown): number[] | null {
  const writeErrors = (err as { writeErrors?: Array<{ index: number; code: number }> } | null)?.writeErrors;
  if (!writeErrors?.length || writeErrors.some((e) => e.code !== DUPLICATE_KEY)) return null;
  return writeErrors.map((e) => e.index);
}
