/**
 * Analytics rebuilt from the stored facts: history inserted straight into the collections (as
 * `npm run seed` does, without events) is invisible to the analytics consumer until
 * `rebuildAnalytics` recomputes the daily buckets and the cohorts. Every expected value below is
 * computed by hand from the data set.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { Types } from 'mongoose';
import { Customer } from '../src/modules/customers/model.js';
import { Interaction, type InteractionType } from '../src/modules/interactions/model.js';
import { SegmentChange } from '../src/modules/segments/model.js';
import { createAnalyticsRebuilder } from '../src/modules/analytics/rebuild.js';
import { ManualClock } from '../src/shared/clock.js';
import { toGlobalId } from '../src/shared/ids.js';
import { createLogger } from '../src/shared/logger.js';
import { recordPurchase } from './helpers/crm.js';
import { eventually } from './helpers/process.js';
import { useTestServer } from './helpers/server.js';

const DASHBOARD = `query($from: DateTime!, $to: DateTime!, $g: Granularity, $f: DashboardFilter) {
  dashboard(from: $from, to: $to, granularity: $g, filter: $f) {
    revenue { total { amount } series { start value { amount } } }
    purchases { total series { value } }
    interactions { total series { value } }
    newCustomers { total series { value } }
    complaints { total series { value } }
    segmentFlows { from to count }
    monthlyActiveCustomers { start value }
  } }`;
const COHORTS = `{ cohortRetention(to: "2026-05-20T00:00:00.000Z", months: 3) { month customers retention } }`;
const STATUS_FIELDS = 'state epoch steps customersDone customersTotal interactionsCounted progress finishedAt';
const REBUILD = `mutation { rebuildAnalytics { isStarted status { ${STATUS_FIELDS} } } }`;
const STATUS = `{ analyticsRebuild { ${STATUS_FIELDS} } }`;

type Status = { state: string; epoch: number | null; steps: number; customersDone: number; progress: number };

const at = (iso: string) => new Date(`${iso}T10:00:00.000Z`);

/** Three customers and a spring of history, stored as the seed stores it: no events. */
async function insertHistory(): Promise<void> {
  const customer = (name: string, joined: string, segment: string) => {
    const joinedAt = at(joined);
    return {
      _id: new Types.ObjectId(),
      code: `C-${name}`,
      name,
      tags: [],
      searchKeys: [name.toLowerCase()],
      nameLower: name.toLowerCase(),
      segment,
      segmentChangedAt: joinedAt,
      totalPurchasesMinor: 0,
      purchaseCount: 0,
      interactionCount: 0,
      lastInteractionSortAt: new Date(0),
      activityAt: joinedAt,
      joinedAt,
      rev: 0,
      createdAt: joinedAt,
      updatedAt: joinedAt,
    };
  };
  const [ana, ben, cho] = [
    customer('Ana', '2026-03-10', 'VIP'),
    customer('Ben', '2026-04-02', 'NEW'),
    customer('Cho', '2026-05-01', 'NEW'),
  ];
  await Customer.collection.insertMany([ana, ben, cho] as never[]);
  const change = (c: { _id: Types.ObjectId }, day: string, from: string | null, to: string, reason: string) => ({
    _id: new Types.ObjectId(),
    customerId: c._id,
    from,
    to,
    changedAt: at(day),
    reason,
  });
  await SegmentChange.collection.insertMany([
    change(ana, '2026-03-10', null, 'NEW', 'CREATED'),
    change(ana, '2026-04-15', 'NEW', 'VIP', 'INTERACTION'), // her big purchase of that day
    change(ben, '2026-04-02', null, 'NEW', 'CREATED'),
    change(cho, '2026-05-01', null, 'NEW', 'CREATED'),
  ] as never[]);
  let n = 0;
  const interaction = (
    c: { _id: Types.ObjectId },
    day: string,
    type: InteractionType,
    channel: string,
    amountMinor?: number,
  ) => ({
    _id: `i:history-${++n}`,
    customerId: c._id,
    type,
    channel,
    occurredAt: at(day),
    recordedAt: at(day),
    ...(amountMinor ? { amountMinor, currency: 'KRW' } : {}),
  });
  await Interaction.collection.insertMany([
    interaction(ana, '2026-03-12', 'PURCHASE', 'WEB', 10_000),
    interaction(ana, '2026-04-15', 'PURCHASE', 'STORE', 1_000_000),
    interaction(ana, '2026-05-19', 'COMPLAINT', 'PHONE'),
    interaction(ben, '2026-04-03', 'PURCHASE', 'WEB', 20_000),
    interaction(ben, '2026-05-18', 'MARKETING', 'EMAIL'),
    interaction(ben, '2026-05-19', 'INQUIRY', 'APP'),
    interaction(cho, '2026-05-19', 'PURCHASE', 'APP', 5_000),
  ] as never[]);
}

describe('analytics rebuild', () => {
  const clock = new ManualClock(new Date('2026-05-20T12:00:00.000Z'));
  const t = useTestServer({ clock, env: { AUTOMATION_POLL_MS: '30', AUTOMATION_LEASE_MS: '300' } });
  let benId: string;
  const range = { from: '2026-03-01T00:00:00.000Z', to: '2026-05-20T23:59:59.000Z', g: 'MONTH' };

  const dashboard = async (f?: Record<string, unknown>) => {
    const res = await t.graphql<{ dashboard: Record<string, unknown> }>(DASHBOARD, { ...range, f });
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.dashboard;
  };
  const cohorts = async () => (await t.graphql<{ cohortRetention: unknown }>(COHORTS)).body.data?.cohortRetention;
  const status = async () => (await t.graphql<{ analyticsRebuild: Status }>(STATUS)).body.data!.analyticsRebuild;

  /** Starts (or resumes) a rebuild through the API and waits for it to be done. */
  async function rebuildThroughApi(): Promise<Status> {
    const before = await status();
    const started = await eventually(
      () => t.graphql<{ rebuildAnalytics: { isStarted: boolean; status: Status } }>(REBUILD),
      (res) => res.body.data?.rebuildAnalytics.isStarted === true,
    );
    expect(started.body.errors).toBeUndefined();
    const epoch = started.body.data!.rebuildAnalytics.status.epoch!;
    expect(epoch).toBeGreaterThan(before.state === 'DONE' ? before.epoch! : 0);
    const done = await eventually(status, (s) => s.state === 'DONE' && s.epoch === epoch);
    // Facts recorded from now on are the consumer's: let the test clock pass the cutoff.
    clock.advance(1_000);
    return done;
  }

  // March: Ana 10,000. April: Ana 1,000,000 (and VIP), Ben 20,000. May: Cho 5,000; Ana's
  // complaint, Ben's inquiry and our newsletter to Ben.
  const expected = {
    revenue: {
      total: { amount: '1035000' },
      series: [
        { start: '2026-03-01T00:00:00.000Z', value: { amount: '10000' } },
        { start: '2026-04-01T00:00:00.000Z', value: { amount: '1020000' } },
        { start: '2026-05-01T00:00:00.000Z', value: { amount: '5000' } },
      ],
    },
    purchases: { total: 4, series: [{ value: 1 }, { value: 2 }, { value: 1 }] },
    interactions: { total: 7, series: [{ value: 1 }, { value: 2 }, { value: 4 }] },
    newCustomers: { total: 3, series: [{ value: 1 }, { value: 1 }, { value: 1 }] },
    complaints: { total: 1, series: [{ value: 0 }, { value: 0 }, { value: 1 }] },
    segmentFlows: [{ from: 'NEW', to: 'VIP', count: 1 }],
    // March: Ana; April: Ana, Ben; May: Ana, Ben (the inquiry; the newsletter is ours), Cho.
    monthlyActiveCustomers: [
      { start: '2026-03-01T00:00:00.000Z', value: 1 },
      { start: '2026-04-01T00:00:00.000Z', value: 2 },
      { start: '2026-05-01T00:00:00.000Z', value: 3 },
    ],
  };
  const expectedCohorts = [
    { month: '2026-03', customers: 1, retention: [1, 1, 1] },
    { month: '2026-04', customers: 1, retention: [1, 1] },
    { month: '2026-05', customers: 1, retention: [1] },
  ];

  beforeAll(async () => {
    await insertHistory();
    benId = (await Customer.findOne({ name: 'Ben' }).lean())!._id.toHexString();
  });

  it('history stored without events is not on the dashboard until a rebuild', async () => {
    const d = await dashboard();
    expect(d.revenue).toMatchObject({ total: { amount: '0' } });
    expect(d.purchases).toMatchObject({ total: 0 });
    expect(await status()).toMatchObject({ state: 'NEVER', epoch: null });
  });

  it('refuses the rebuild to every role but ADMIN', async () => {
    for (const role of ['ANALYST', 'MARKETING', 'SALES', 'SUPPORT'] as const) {
      const res = await t.graphql(REBUILD, {}, { authorization: `Bearer ${await t.tokenFor(role)}` });
      expect(res.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    }
    expect(await status()).toMatchObject({ state: 'NEVER' });
  });

  it('rebuildAnalytics counts the stored history on its own days, slices and cohorts', async () => {
    const done = await rebuildThroughApi();
    expect(done).toMatchObject({ customersDone: 3, customersTotal: 3, interactionsCounted: 7, progress: 1 });
    expect(await dashboard()).toEqual(expected);
    // Ana's big purchase made her VIP: it and her later complaint are VIP's; the rest NEW's.
    expect(await dashboard({ segment: 'VIP' })).toMatchObject({
      revenue: { total: { amount: '1000000' } },
      interactions: { total: 2 },
    });
    expect(await dashboard({ segment: 'NEW' })).toMatchObject({ revenue: { total: { amount: '35000' } } });
    expect(await dashboard({ channel: 'WEB' })).toMatchObject({ revenue: { total: { amount: '30000' } } });
    expect(await cohorts()).toEqual(expectedCohorts);
  });

  it('an interaction recorded through the API with a past occurredAt is counted on its own day', async () => {
    await recordPurchase(t, {
      customerId: toGlobalId('Customer', benId),
      amount: '7000',
      channel: 'WEB',
      occurredAt: '2026-04-20T09:00:00.000Z',
    });
    const d = await eventually(dashboard, (x) => (x.purchases as { total: number }).total === 5);
    expect(d.revenue).toEqual({
      total: { amount: '1042000' },
      series: [
        { start: '2026-03-01T00:00:00.000Z', value: { amount: '10000' } },
        { start: '2026-04-01T00:00:00.000Z', value: { amount: '1027000' } },
        { start: '2026-05-01T00:00:00.000Z', value: { amount: '5000' } },
      ],
    });
    expected.revenue = d.revenue as typeof expected.revenue;
    expected.purchases = { total: 5, series: [{ value: 1 }, { value: 3 }, { value: 1 }] };
    expected.interactions = { total: 8, series: [{ value: 1 }, { value: 3 }, { value: 4 }] };
    expect(await dashboard()).toEqual(expected);
  });

  it('running the rebuild again changes nothing', async () => {
    const done = await rebuildThroughApi();
    expect(done).toMatchObject({ customersDone: 3, interactionsCounted: 8 });
    expect(await dashboard()).toEqual(expected);
    expect(await cohorts()).toEqual(expectedCohorts);
  });

  it('a rebuild that crashed mid-way, run again, completes with the same numbers', async () => {
    // A holder that crashes after writing its second chunk (one customer each), before that
    // chunk's checkpoint, and never releases its lease.
    const crashed = createAnalyticsRebuilder({ clock, logger: createLogger('silent'), leaseMs: 300 });
    expect(await crashed.rebuild({ chunkCustomers: 1, crashAfterSteps: 2 })).toBe(false);
    const halfway = await status();
    expect(halfway).toMatchObject({ steps: 1, customersDone: 1 });
    expect(['RUNNING', 'INTERRUPTED']).toContain(halfway.state);
    // The dashboard still reads the last finished rebuild's counters meanwhile.
    expect(await dashboard()).toEqual(expected);

    const done = await rebuildThroughApi(); // waits for the crashed holder's lease to expire
    expect(done.epoch).toBe(halfway.epoch);
    expect(done).toMatchObject({ customersDone: 3, interactionsCounted: 8 });
    expect(await dashboard()).toEqual(expected);
    expect(await cohorts()).toEqual(expectedCohorts);
  });
});
