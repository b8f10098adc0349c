import { DAY_MS } from '../../shared/clock.js';
import { daysSinceActivity, type SegmentPolicy } from '../../shared/segment-policy.js';
import type { CustomerDoc } from '../customers/model.js';
import type { Segment } from '../../shared/segment-policy.js';

export type CustomerInsights = {
  totalPurchasesMinor: number;
  purchaseCount: number;
  averagePurchaseMinor: number | null;
  interactionCount: number;
  daysSinceLastInteraction: number;
  segment: Segment;
  lifetimeValueMinor: number;
  churnRisk: number;
  /** The customer the insights are about (for the measures that need more than its aggregates). */
  customer: CustomerDoc;
};

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
    customer: c,
  };
}

export type NextBestAction = { action: string; reason: string };

/**
 * Suggestions from simple, transparent rules (listed in the schema), most urgent first. A
 * customer who unsubscribed gets no message-based suggestion.
 */
export function nextBestActions(
  c: CustomerDoc,
  policy: SegmentPolicy,
  complaintsLast7Days: number,
  now: Date,
): NextBestAction[] {
  const out: NextBestAction[] = [];
  const mayMessage = !c.unsubscribedAt;
  const days = daysSinceActivity(c, now);
  if (complaintsLast7Days > 0)
    out.push({ action: 'RESOLVE_COMPLAINT', reason: `${complaintsLast7Days} complaint(s) in the last 7 days` });
  if (c.segment === 'CHURNED' && mayMessage)
    out.push({ action: 'WIN_BACK_OFFER', reason: `no activity for ${days} days (churned)` });
  if (c.segment === 'AT_RISK') out.push({ action: 'CHECK_IN_CALL', reason: `no activity for ${days} days (at risk)` });
  if (c.segment === 'NEW' && c.purchaseCount === 0 && mayMessage)
    out.push({ action: 'FIRST_PURCHASE_INCENTIVE', reason: 'no purchase yet' });
  if (c.segment === 'LOYAL' && c.totalPurchasesMinor >= 0.8 * policy.vipMinTotalMinor && mayMessage)
    out.push({ action: 'UPSELL_TO_VIP', reason: 'within 20% of the VIP threshold' });
  if (c.segment === 'VIP') out.push({ action: 'VIP_RECOGNITION', reason: 'a VIP customer: thank them personally' });
  return out;
}
