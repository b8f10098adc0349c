import { daysSinceActivity, type SegmentPolicy } from '../segments/policy.js';
import type { CustomerDoc } from '../customers/model.js';
import type { Segment } from '../segments/policy.js';

export type CustomerInsights = {
  totalPurchasesMinor: number;
  purchaseCount: number;
  averagePurchaseMinor: number | null;
  interactionCount: number;
  daysSinceLastInteraction: number;
  segment: Segment;
  lifetimeValueMinor: number;
  churnRisk: number;
};

const DAY_MS = 86_400_000;

export function averagePurchaseMinor(c: Pick<CustomerDoc, 'totalPurchasesMinor' | 'purchaseCount'>): number | null {
  return c.purchaseCount > 0 ? Math.floor(c.totalPurchasesMinor / c.purchaseCount) : null;
}

/**
 * Insights from the stored aggregates alone (no scan of interactions). The methods are the
 * ones written in the schema descriptions of CustomerInsights.
 */
export function insightsFor(c: CustomerDoc, policy: SegmentPolicy, now: Date): CustomerInsights {
  const days = daysSinceActivity(c, now);
  const average = averagePurchaseMinor(c);
  let churnRisk = Math.min(1, days / policy.churnedAfterDays);
  if (c.purchaseCount >= policy.loyalMinPurchases) churnRisk *= 2 / 3;
  if (c.segment === 'CHURNED') churnRisk = 1;
  churnRisk = Math.round(churnRisk * 1000) / 1000;
  const yearsKnown = Math.max(30, (now.getTime() - c.joinedAt.getTime()) / DAY_MS) / 365;
  const purchasesPerYear = c.purchaseCount / yearsKnown;
  const lifetimeValueMinor = Math.floor(c.totalPurchasesMinor + (average ?? 0) * purchasesPerYear * (1 - churnRisk));
  return {
    totalPurchasesMinor: c.totalPurchasesMinor,
    purchaseCount: c.purchaseCount,
    averagePurchaseMinor: average,
    interactionCount: c.interactionCount,
    daysSinceLastInteraction: days,
    segment: c.segment,
    lifetimeValueMinor,
    churnRisk,
  };
}
