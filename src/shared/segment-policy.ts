import { DAY_MS } from './clock.js';

/**
 * The segment rules, as pure functions of a customer's stored aggregates, the policy and the
 * time: the one place that decides segments.
 */
export const SEGMENTS = ['VIP', 'LOYAL', 'NEW', 'AT_RISK', 'CHURNED'] as const;
export type Segment = (typeof SEGMENTS)[number];

export type SegmentPolicy = {
  vipMinTotalMinor: number;
  churnedAfterDays: number;
  atRiskAfterDays: number;
  loyalMinPurchases: number;
  updatedAt: Date | null;
};

export const DEFAULT_POLICY: SegmentPolicy = {
  vipMinTotalMinor: 1_000_000, // in minor units of the deployment currency; set from it at start
  churnedAfterDays: 180,
  atRiskAfterDays: 90,
  loyalMinPurchases: 5,
  updatedAt: null,
};

export type SegmentInputs = {
  totalPurchasesMinor: number;
  purchaseCount: number;
  lastInteractionAt?: Date | null;
  joinedAt: Date;
};

/** Whole days elapsed since the last interaction, or since joining when there was none. */
export function daysSinceActivity(c: Pick<SegmentInputs, 'lastInteractionAt' | 'joinedAt'>, now: Date): number {
  const since = c.lastInteractionAt ?? c.joinedAt;
  return Math.max(0, Math.floor((now.getTime() - since.getTime()) / DAY_MS));
}

export function segmentFor(c: SegmentInputs, policy: SegmentPolicy, now: Date): Segment {
  if (c.totalPurchasesMinor >= policy.vipMinTotalMinor) return 'VIP';
  const days = daysSinceActivity(c, now);
  if (days > policy.churnedAfterDays) return 'CHURNED';
  if (days > policy.atRiskAfterDays) return 'AT_RISK';
  if (c.purchaseCount >= policy.loyalMinPurchases) return 'LOYAL';
  return 'NEW';
}

/** The latest activity time before which a customer counts as more than `days` days inactive. */
export function inactiveSince(days: number, now: Date): Date {
  return new Date(now.getTime() - (days + 1) * DAY_MS + 1);
}

export function validatePolicy(p: SegmentPolicy): string[] {
  const problems: string[] = [];
  if (!Number.isSafeInteger(p.vipMinTotalMinor) || p.vipMinTotalMinor <= 0)
    problems.push('vipMinTotalPurchases must be greater than zero');
  for (const [name, v] of [
    ['churnedAfterDays', p.churnedAfterDays],
    ['atRiskAfterDays', p.atRiskAfterDays],
    ['loyalMinPurchases', p.loyalMinPurchases],
  ] as const) {
    if (!Number.isInteger(v) || v < 1 || v > 36_500) problems.push(`${name} must be a whole number from 1 to 36500`);
  }
  if (p.atRiskAfterDays >= p.churnedAfterDays) problems.push('atRiskAfterDays must be less than churnedAfterDays');
  return problems;
}
