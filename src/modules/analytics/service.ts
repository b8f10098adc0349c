import { DAY_MS } from '../../shared/clock.js';
import mongoose from 'mongoose';
import { objectIdOrNull } from '../../shared/ids.js';
import { createTtlCache } from '../../shared/ttl-cache.js';
import { Campaign, type CampaignDoc } from '../campaigns/model.js';
import { Customer } from '../customers/model.js';
import type { Channel } from '../interactions/model.js';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';
import type { SegmentsService } from '../segments/service.js';
import { Cohort, dayKey, KpiDay, monthKey, type CohortDoc, type Counters, type KpiDayDoc } from './counting.js';
import { epochId, keyInEpoch, readAnalyticsState } from './epochs.js';

export { countEvent, KpiDay, kpiIncrements } from './counting.js';

export const MAX_DAYS = 366;

/** Retention of the cohorts that joined in the `months` months up to `to`: share active per month since joining. */
export async function readCohorts(
  to: Date,
  months: number,
): Promise<Array<{ month: string; customers: number; retention: number[] }>> {
  const keys = Array.from({ length: months }, (_, i) =>
    monthKey(new Date(Date.UTC(to.getUTCFullYear(), to.getUTCMonth() - (months - 1 - i), 1))),
  );
  const { epoch } = (await readAnalyticsState()).live;
  const docs = await Promise.all(keys.map((k) => Cohort.findById(epochId(epoch, k)).lean<CohortDoc>()));
  return keys.map((month, i) => {
    const doc = docs[i];
    const size = doc?.size ?? 0;
    const retention = keys.slice(i).map((later) => (size > 0 ? (doc?.active?.[later] ?? 0) / size : 0));
    return { month, customers: size, retention };
  });
}

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

/**
 * Customers with an interaction in the 30 days before `end`: a count over the customers (a scan
 * on the embedded engine, ~60 µs per customer), so kept for a minute per end day — a dashboard
 * refreshed every few seconds does not scan each time.
 */
const activeCounts = new Map<number, ReturnType<typeof createTtlCache<number>>>();
function activeCustomersUpTo(end: Date): Promise<number> {
  let cache = activeCounts.get(end.getTime());
  if (!cache) {
    if (activeCounts.size > 50) activeCounts.clear();
    cache = createTtlCache(60_000, () =>
      Customer.countDocuments({
        lastInteractionAt: mongoose.trusted({ $gt: new Date(end.getTime() - 30 * DAY_MS), $lte: end }),
      }).exec(),
    );
    activeCounts.set(end.getTime(), cache);
  }
  return cache.get();
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

/** The dashboard over whole UTC days from `from` to `to` (inclusive): one lookup by `_id` per day. */
export async function readDashboard(
  segments: SegmentsService,
  args: { from: Date; to: Date; granularity: Granularity; filter: DashboardFilter },
): Promise<DashboardView | { problem: string }> {
  const first = new Date(dayKey(args.from));
  const last = new Date(dayKey(args.to));
  const days = Math.round((last.getTime() - first.getTime()) / DAY_MS) + 1;
  if (days < 1) return { problem: 'to must not be before from' };
  if (days > MAX_DAYS) return { problem: `at most ${MAX_DAYS} days per dashboard` };
  if (args.filter.channel && args.filter.segment)
    return { problem: 'filter by channel or by segment, not both (the buckets keep each on its own)' };
  const dates = Array.from({ length: days }, (_, i) => new Date(first.getTime() + i * DAY_MS));
  const { epoch } = (await readAnalyticsState()).live;
  const docs = await Promise.all(dates.map((d) => KpiDay.findById(epochId(epoch, dayKey(d))).lean<KpiDayDoc>()));

  const slice = (doc: KpiDayDoc | null): Partial<Counters> => {
    if (!doc) return {};
    const { channel, segment } = args.filter;
    if (channel) return doc.byChannel?.[channel] ?? {};
    if (segment) return doc.bySegment?.[segment] ?? {};
    return doc.all ?? {};
  };
  const buckets = new Map<number, Counters>();
  for (const [i, doc] of docs.entries()) {
    const start = bucketStart(dates[i]!, args.granularity).getTime();
    const b = buckets.get(start) ?? { revenueMinor: 0, purchases: 0, interactions: 0, complaints: 0, newCustomers: 0 };
    const s = slice(doc);
    for (const k of Object.keys(b) as Array<keyof Counters>) b[k] += s[k] ?? 0;
    buckets.set(start, b);
  }
  const points = [...buckets.entries()].sort((a, b) => a[0] - b[0]);
  const series = (f: (c: Counters) => number) => points.map(([start, c]) => ({ start: new Date(start), value: f(c) }));
  const sum = (k: keyof Counters) => points.reduce((n, [, c]) => n + c[k], 0);
  const kpi = (k: keyof Counters) => ({ total: sum(k), series: series((c) => c[k]) });

  const flows = new Map<string, number>();
  for (const doc of docs) for (const [k, n] of Object.entries(doc?.flows ?? {})) flows.set(k, (flows.get(k) ?? 0) + n);
  const segmentFlows = [...flows.entries()]
    .map(([k, count]) => {
      const [from, to] = k.split('>') as [Segment, Segment];
      return { from, to, count };
    })
    .sort(
      (a, b) => SEGMENTS.indexOf(a.from) - SEGMENTS.indexOf(b.from) || SEGMENTS.indexOf(a.to) - SEGMENTS.indexOf(b.to),
    );
  const counts = await segments.segmentCounts();
  const customers = SEGMENTS.reduce((n, s) => n + counts[s], 0);
  const churned = segmentFlows.filter((f) => f.to === 'CHURNED').reduce((n, f) => n + f.count, 0);

  const rangeEnd = new Date(last.getTime() + DAY_MS);
  const campaignId = args.filter.campaignId ? objectIdOrNull(args.filter.campaignId) : null;
  if (args.filter.campaignId && !campaignId) return { problem: 'filter.campaignId is not a campaign id' };
  const started = await Campaign.find(
    campaignId ? { _id: campaignId } : { startedAt: mongoose.trusted({ $gte: first, $lt: rangeEnd }) },
  )
    .select({ stats: 1 })
    .lean<Array<Pick<CampaignDoc, 'stats'>>>();
  const c = started.reduce(
    (t, { stats }) => ({
      delivered: t.delivered + stats.delivered,
      responded: t.responded + stats.responded,
      conversions: t.conversions + stats.conversions,
      revenueMinor: t.revenueMinor + stats.revenueMinor,
    }),
    { delivered: 0, responded: 0, conversions: 0, revenueMinor: 0 },
  );

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
      series: points.map(([start]) => ({
        start: new Date(start),
        value: ratio(
          docs.reduce((n, doc, i) => {
            if (bucketStart(dates[i]!, args.granularity).getTime() !== start) return n;
            return n + Object.entries(doc?.flows ?? {}).reduce((m, [k, v]) => (k.endsWith('>CHURNED') ? m + v : m), 0);
          }, 0),
          customers,
        ),
      })),
    },
    monthlyActiveCustomers: await monthlyActive(epoch, first, last),
    activeCustomers: await activeCustomersUpTo(rangeEnd),
    segmentFlows,
    segmentDistribution: SEGMENTS.map((segment) => ({ segment, count: counts[segment] })),
    campaigns: {
      campaigns: started.length,
      ...c,
      responseRate: ratio(c.responded, c.delivered),
      conversionRate: ratio(c.conversions, c.delivered),
    },
  };
}
