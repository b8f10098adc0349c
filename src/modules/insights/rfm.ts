import type { CustomerDoc } from '../customers/model.js';
import type { streamCustomers } from '../customers/records.js';
import { daysSinceActivity } from '../../shared/segment-policy.js';

/** How long the customers' ranks are used before a pass over the customers refreshes them. */
const RANKS_TTL_MS = 60_000;

export type RfmScore = { recency: number; frequency: number; monetary: number; code: string };

type Ranks = { at: number; days: number[]; purchases: number[]; totals: number[] };

/** The customers' reads, injected: the customers domain depends on this one (its insights). */
export type RfmDeps = { streamCustomers: typeof streamCustomers };

/** How many values in an ascending array are strictly below `v`. */
function countBelow(sorted: number[], v: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! < v) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** 1 + floor(5 × the share of customers strictly worse), 1 to 5. */
function score(worse: number, n: number): number {
  return n > 0 ? Math.min(5, 1 + Math.floor((5 * worse) / n)) : 1;
}

/**
 * RFM scores by rank among all customers now (the method is in the schema). The sorted values
 * come from one pass over the customers, refreshed in the background once they are a minute old.
 */
export function createRfm(deps: RfmDeps) {
  let ranks: Promise<Ranks> | null = null;
  let loadedAt = 0;

  async function load(now: Date): Promise<Ranks> {
    const days: number[] = [];
    const purchases: number[] = [];
    const totals: number[] = [];
    const customers = deps.streamCustomers(
      { erasedAt: null },
      { select: { lastInteractionAt: 1, joinedAt: 1, purchaseCount: 1, totalPurchasesMinor: 1 }, batchSize: 5_000 },
    );
    for await (const c of customers) {
      days.push(daysSinceActivity(c, now));
      purchases.push(c.purchaseCount);
      totals.push(c.totalPurchasesMinor);
    }
    const asc = (a: number, b: number) => a - b;
    return { at: Date.now(), days: days.sort(asc), purchases: purchases.sort(asc), totals: totals.sort(asc) };
  }

  return async function rfmFor(c: CustomerDoc, now: Date): Promise<RfmScore> {
    // One pass at a time, shared by every caller; a failed pass is not kept. Once ranks exist, a
    // pass that refreshes them runs in the background: no request waits for a whole pass over
    // the customers but the very first.
    if (!ranks || Date.now() - loadedAt > RANKS_TTL_MS) {
      loadedAt = Date.now();
      const previous = ranks;
      const pass = load(now);
      pass.then(
        () => {
          ranks = pass;
        },
        () => {
          if (ranks === pass) ranks = null;
          loadedAt = 0;
        },
      );
      ranks = previous ?? pass;
    }
    const r = await ranks;
    const n = r.days.length;
    const days = daysSinceActivity(c, now);
    // Recency: customers with more days since their last activity are worse.
    const recency = score(n - countBelow(r.days, days + 1), n);
    const frequency = score(countBelow(r.purchases, c.purchaseCount), n);
    const monetary = score(countBelow(r.totals, c.totalPurchasesMinor), n);
    return { recency, frequency, monetary, code: `${recency}${frequency}${monetary}` };
  };
}
