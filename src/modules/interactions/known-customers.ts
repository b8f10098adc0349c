import { liveCustomersAmong } from '../customers/index.js';

/** Forgotten wholesale beyond this many: the memory stays bounded. */
const KNOWN_CUSTOMERS_MAX = 200_000;

export type KnownCustomers = ReturnType<typeof createKnownCustomers>;

/**
 * Ids of customers known to exist. Existence never ends — a customer document is never
 * removed (erasure blanks personal data and keeps the record) — so a batch skips the look-up
 * for customers this process has already seen; one erased since is caught when its aggregates
 * are applied (only a live customer takes them).
 */
export function createKnownCustomers() {
  const known = new Set<string>();

  /** Which of these customer ids exist: remembered ones, then one read by `_id` for the rest. */
  async function liveAmong(ids: string[]): Promise<Set<string>> {
    const unknown = ids.filter((id) => !known.has(id));
    const found = await liveCustomersAmong(unknown);
    if (known.size + unknown.length > KNOWN_CUSTOMERS_MAX) known.clear();
    for (const id of found) known.add(id);
    return new Set(ids.filter((id) => known.has(id)));
  }

  return { liveAmong };
}
