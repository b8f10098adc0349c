import { DAY_MS } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';
import { createTtlCache } from '../../shared/ttl-cache.js';
import { campaignResults, type CampaignStatsDoc } from '../campaigns/index.js';
import { countCustomers, trustedFilterValue } from '../customers/index.js';
import type { Channel } from '../interactions/index.js';
import type { SegmentsService } from '../segments/service.js';
import { dayKey } from './counting.js';
import { epochId, keyInEpoch, readAnalyticsState } from './epochs.js';
import { Cohort, KpiDay, type CohortDoc, type Counters, type KpiDayDoc } from './model.js';

export const MAX_DAYS = 366;

export type Granularity = 'DAY' | 'WEEK' | 'MONTH';

function bucketStart(day: Date, granularity: Granularity): Date {
  if (granularity === 'DAY') return day;
  if (granularity === 'MONTH') return new Date(Date.UTC(day.getUTCFullYear(), day.getUTCMonth(), 1));
  const weekday = (day.getUTCDay() + 6) % 7; // Monday 0
  return new Date(day.getTime() - weekday * DAY_MS);
}

export type DashboardFilter = { channel?: Channel | null; segment?: Segment | null; campaignId?: string | null };

export type Point = { start: Date; value: number };

export type DashboardView = {
  from: Date;
  to: Date;
  granularity: Granularity;
  revenueMinor: { total: number; series: Point[] };
  purchases: { total: number; series: Point[] };
  averageOrderMinor: { total: number; series: Point[] };
  interactions: { total: number; series: Point[] };
  newCustomers: { total: number; series: Point[] };
  complaints: { total: number; series: Point[] };
  complaintRate: { total: number; series: Point[] };
  churnRate: { total: number; series: Point[] };
  activeCustomers: number;
  monthlyActiveCustomers: Point[];
  segmentFlows: Array<{ from: Segment; to: Segment; count: number }>;
  segmentDistribution: Array<{ segment: Segment; count: number }>;
  campaigns: {
    campaigns: number;
    delivered: number;
    responded: number;
    responseRate: number;
    conversions: number;
    conversionRate: number;
    revenueMinor: number;
  };
};

const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);

/** Customers with an interaction in the 30 days before `end`. */
export type ActiveCustomersCount = (end: Date) => Promise<number>;

/**
 * The count of active customers is a count over the customers (a scan on the embedded engine,
 * ~60 µs per customer), so each end day's is kept for a minute: a dashboard refreshed every few
 * seconds does not scan each time.
 */
export function cachedActiveCustomersCount(): ActiveCustomersCount {
  const byEnd = new Map<number, ReturnType<typeof createTtlCache<number>>>();
  return (end) => {
    let cache = byEnd.get(end.getTime());
    if (!cache) {
      if (byEnd.size > 50) byEnd.clear();
      cache = createTtlCache(60_000, () =>
        countCustomers({
          lastInteractionAt: trustedFilterValue({ $gt: new Date(end.getTime() - 30 * DAY_MS), $lte: end }),
        }),
      );
      byEnd.set(end.getTime(), cache);
    }
    return cache.get();
  };
}

/** Distinct active customers per calendar month from `first` to `last`: the cohorts' counters summed. */
async function monthlyActive(epoch: number, first: Date, last: Date): Promise<Point[]> {
  // A few documents per epoch (one per join month): read whole and kept to the live epoch's.
  const cohorts = (await Cohort.find({}).lean<CohortDoc[]>()).filter((c) => keyInEpoch(epoch, c._id) !== null);
  const out: Point[] = [];
  for (let m = new Date(Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), 1)); m <= last;) {
    const key = m.toISOString().slice(0, 7);
    out.push({ start: m, value: cohorts.reduce((n, c) => n + (c.active?.[key] ?? 0), 0) });
    m = new Date(Date.UTC(m.getUTCFullYear(), m.getUTCMonth() + 1, 1));
  }
  return out;
}

type Bucket = { start: number; counters: Counters; churned: number };

/** The days' counters (of the filter's slice) and churn moves added up per bucket, in time order. */
function bucketsOf(
  days: Array<{ date: Date; doc: KpiDayDoc | null }>,
  granularity: Granularity,
  filter: DashboardFilter,
): Bucket[] {
  const slice = (doc: KpiDayDoc | null): Partial<Counters> => {
    if (!doc) return {};
    if (filter.channel) return doc.byChannel?.[filter.channel] ?? {};
    if (filter.segment) return doc.bySegment?.[filter.segment] ?? {};
    return doc.all ?? {};
  };
  const buckets = new Map<number, Bucket>();
  for (const { date, doc } of days) {
    const start = bucketStart(date, granularity).getTime();
    const b = buckets.get(start) ?? {
      start,
      counters: { revenueMinor: 0, purchases: 0, interactions: 0, complaints: 0, newCustomers: 0 },
      churned: 0,
    };
    const s = slice(doc);
    for (const k of Object.keys(b.counters) as Array<keyof Counters>) b.counters[k] += s[k] ?? 0;
    for (const [k, n] of Object.entries(doc?.flows ?? {})) if (k.endsWith('>CHURNED')) b.churned += n;
    buckets.set(start, b);
  }
  return [...buckets.values()].sort((a, b) => a.start - b.start);
}

/** The segment moves of the days added up, in the segments' order (from, then to). */
function segmentFlowsOf(docs: Array<KpiDayDoc | null>): DashboardView['segmentFlows'] {
  const flows = new Map<string, number>();
  for (const doc of docs) for (const [k, n] of Object.entries(doc?.flows ?? {})) flows.set(k, (flows.get(k) ?? 0) + n);
  return [...flows.entries()]
    .map(([k, count]) => {
      const [from, to] = k.split('>') as [Segment, Segment];
      return { from, to, count };
    })
    .sort(
      (a, b) => SEGMENTS.indexOf(a.from) - SEGMENTS.indexOf(b.from) || SEGMENTS.indexOf(a.to) - SEGMENTS.indexOf(b.to),
    );
}

function campaignsSummary(started: CampaignStatsDoc[]): DashboardView['campaigns'] {
  const c = started.reduce(
    (t, stats) => ({
      delivered: t.delivered + stats.delivered,
      responded: t.responded + stats.responded,
      conversions: t.conversions + stats.conversions,
      revenueMinor: t.revenueMinor + stats.revenueMinor,
    }),
    { delivered: 0, responded: 0, conversions: 0, revenueMinor: 0 },
  );
  return {
    campaigns: started.length,
    ...c,
    responseRate: ratio(c.responded, c.delivered),
    conversionRate: ratio(c.conversions, c.delivered),
  };
}

/** The dashboard over whole UTC days from `from` to `to` (inclusive): one lookup by `_id` per day. */
export async function readDashboard(
  deps: { segments: Pick<SegmentsService, 'segmentCounts'>; activeCustomers: ActiveCustomersCount },
  args: { from: Date; to: Date; granularity: Granularity; filter: DashboardFilter },
): Promise<DashboardView | { problem: string }> {
  const first = new Date(dayKey(args.from));
  const last = new Date(dayKey(args.to));
  const days = Math.round((last.getTime() - first.getTime()) / DAY_MS) + 1;
  if (days < 1) return { problem: 'to must not be before from' };
  if (days > MAX_DAYS) return { problem: `at most ${MAX_DAYS} days per dashboard` };
  if (args.filter.channel && args.filter.segment)
    return { problem: 'filter by channel or by segment, not both (the buckets keep each on its own)' };
  const campaignId = args.filter.campaignId ? objectIdOrNull(args.filter.campaignId) : null;
  if (args.filter.campaignId && !campaignId) return { problem: 'filter.campaignId is not a campaign id' };
  const dates = Array.from({ length: days }, (_, i) => new Date(first.getTime() + i * DAY_MS));
  const { epoch } = (await readAnalyticsState()).live;
  const docs = await Promise.all(dates.map((d) => KpiDay.findById(epochId(epoch, dayKey(d))).lean<KpiDayDoc>()));

  const buckets = bucketsOf(
    dates.map((date, i) => ({ date, doc: docs[i] ?? null })),
    args.granularity,
    args.filter,
  );
  const series = (f: (c: Counters) => number) =>
    buckets.map((b) => ({ start: new Date(b.start), value: f(b.counters) }));
  const sum = (k: keyof Counters) => buckets.reduce((n, b) => n + b.counters[k], 0);
  const kpi = (k: keyof Counters) => ({ total: sum(k), series: series((c) => c[k]) });

  const segmentFlows = segmentFlowsOf(docs);
  const counts = await deps.segments.segmentCounts();
  const customers = SEGMENTS.reduce((n, s) => n + counts[s], 0);
  const churned = segmentFlows.filter((f) => f.to === 'CHURNED').reduce((n, f) => n + f.count, 0);
  const rangeEnd = new Date(last.getTime() + DAY_MS);
  const started = await campaignResults(campaignId ? { campaignId } : { startedFrom: first, startedBefore: rangeEnd });

  return {
    from: first,
    to: last,
    granularity: args.granularity,
    revenueMinor: kpi('revenueMinor'),
    purchases: kpi('purchases'),
    averageOrderMinor: {
      total: Math.floor(ratio(sum('revenueMinor'), sum('purchases'))),
      series: series((b) => Math.floor(ratio(b.revenueMinor, b.purchases))),
    },
    interactions: kpi('interactions'),
    newCustomers: kpi('newCustomers'),
    complaints: kpi('complaints'),
    complaintRate: {
      total: ratio(sum('complaints'), sum('interactions')),
      series: series((b) => ratio(b.complaints, b.interactions)),
    },
    churnRate: {
      total: ratio(churned, customers),
      series: buckets.map((b) => ({ start: new Date(b.start), value: ratio(b.churned, customers) })),
    },
    monthlyActiveCustomers: await monthlyActive(epoch, first, last),
    activeCustomers: await deps.activeCustomers(rangeEnd),
    segmentFlows,
    segmentDistribution: SEGMENTS.map((segment) => ({ segment, count: counts[segment] })),
    campaigns: campaignsSummary(started),
  };
}
