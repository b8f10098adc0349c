import { DAY_MS } from '../src/shared/clock.js';
import { segmentFor, type Segment, type SegmentPolicy } from '../src/shared/segment-policy.js';

type Fact = { at: Date; isActivity: boolean; amountMinor?: number | null };
export type SeededMove = { at: Date; from: Segment | null; to: Segment; reason: 'CREATED' | 'INTERACTION' | 'TIME' };

/**
 * A customer's segment history as the API would have recorded it live: created at `joinedAt`,
 * moved by each interaction that changed its segment, and by time when it crossed an
 * inactivity threshold. Demo data so made gives the dashboard's new-customer and churn
 * figures their days instead of putting every customer on the day of the seed.
 */
export function segmentHistory(joinedAt: Date, facts: Fact[], policy: SegmentPolicy, now: Date): SeededMove[] {
  const moves: SeededMove[] = [];
  const state = { totalPurchasesMinor: 0, purchaseCount: 0, lastInteractionAt: null as Date | null, joinedAt };
  let current: Segment | null = null;
  const settle = (at: Date, reason: SeededMove['reason']) => {
    const to = segmentFor(state, policy, at);
    if (to !== current) moves.push({ at, from: current, to, reason: current === null ? 'CREATED' : reason });
    current = to;
  };
  /** The moments inactivity thresholds are crossed between the last activity and `until`. */
  const crossings = (until: Date) => {
    const since = (state.lastInteractionAt ?? joinedAt).getTime();
    for (const days of [policy.atRiskAfterDays, policy.churnedAfterDays]) {
      const at = new Date(since + (days + 1) * DAY_MS);
      if (at < until) settle(at, 'TIME');
    }
  };
  settle(joinedAt, 'CREATED');
  for (const fact of [...facts].sort((a, b) => a.at.getTime() - b.at.getTime())) {
    crossings(fact.at);
    if (fact.amountMinor) {
      state.totalPurchasesMinor += fact.amountMinor;
      state.purchaseCount++;
    }
    if (fact.isActivity && (!state.lastInteractionAt || fact.at > state.lastInteractionAt))
      state.lastInteractionAt = fact.at;
    settle(fact.at, 'INTERACTION');
  }
  crossings(now);
  return moves;
}
