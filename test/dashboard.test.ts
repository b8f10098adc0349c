/**
 * The dashboard's KPIs against a small data set whose values are computed by hand below.
 * Purchases are dated on three days; the daily buckets are kept by the analytics consumer.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { ManualClock } from '../src/shared/clock.js';
import { createCustomer, DAY_MS, recordInteraction, recordPurchase } from './helpers/crm.js';
import { campaignMutation, createCampaign, settled } from './helpers/campaigns.js';
import { eventually } from './helpers/process.js';
import { useTestServer } from './helpers/server.js';

const DASHBOARD = `query($from: DateTime!, $to: DateTime!, $g: Granularity, $f: DashboardFilter) {
  dashboard(from: $from, to: $to, granularity: $g, filter: $f) {
    revenue { total { amount } series { start value { amount } } }
    purchases { total series { value } }
    averageOrderValue { total { amount } series { value { amount } } }
    interactions { total series { value } }
    newCustomers { total series { value } }
    complaints { total series { value } }
    complaintRate { total series { value } }
    churnRate { total series { value } }
    activeCustomers
    monthlyActiveCustomers { start value }
    segmentFlows { from to count }
    segmentDistribution { segment count }
    campaigns { campaigns delivered responseRate revenue { amount } }
  } }`;

type Kpi = { total: unknown; series: Array<{ start?: string; value: unknown }> };
type Dash = {
  revenue: Kpi;
  purchases: Kpi;
  averageOrderValue: Kpi;
  interactions: Kpi;
  newCustomers: Kpi;
  complaints: Kpi;
  complaintRate: Kpi;
  churnRate: Kpi;
  activeCustomers: number;
  monthlyActiveCustomers: unknown;
  segmentFlows: unknown[];
  segmentDistribution: Array<{ segment: string; count: number }>;
  campaigns: unknown;
};

describe('dashboard', () => {
  const clock = new ManualClock(new Date('2026-05-20T12:00:00.000Z'));
  const t = useTestServer({ clock, env: { AUTOMATION_POLL_MS: '30', CAMPAIGN_POLL_MS: '50' } });
  const range = { from: '2026-05-18T00:00:00.000Z', to: '2026-05-20T23:59:59.000Z' };
  const on = (day: number, hour = 10) => `2026-05-${day}T${String(hour).padStart(2, '0')}:00:00.000Z`;

  async function dashboard(variables: Record<string, unknown> = {}): Promise<Dash> {
    const res = await t.graphql<{ dashboard: Dash }>(DASHBOARD, { ...range, ...variables });
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.dashboard;
  }

  beforeAll(async () => {
    // The test server is up once the analytics consumer took its place: it counts all of these.
    const [a, b, c] = [
      await createCustomer(t, { name: 'Ana' }),
      await createCustomer(t, { name: 'Ben' }),
      await createCustomer(t, { name: 'Cho' }),
    ];
    await recordPurchase(t, { customerId: a!.id, amount: '10000', channel: 'WEB', occurredAt: on(18) });
    await recordPurchase(t, { customerId: a!.id, amount: '30000', channel: 'STORE', occurredAt: on(19) });
    await recordPurchase(t, { customerId: b!.id, amount: '20000', channel: 'WEB', occurredAt: on(19) });
    await recordInteraction(t, { customerId: c!.id, type: 'COMPLAINT', channel: 'PHONE', occurredAt: on(19) });
    await recordInteraction(t, { customerId: b!.id, type: 'INQUIRY', channel: 'WEB', occurredAt: on(20, 9) });
    await recordPurchase(t, { customerId: c!.id, amount: '1000000', channel: 'STORE', occurredAt: on(20, 11) }); // → VIP
  });

  it('adds up revenue, purchases, order value, interactions, complaints and new customers per day', async () => {
    const d = await eventually(dashboard, (x) => (x.interactions.total as number) === 6);
    // Revenue: 10,000 (18th); 30,000 + 20,000 (19th); 1,000,000 (20th).
    expect(d.revenue).toEqual({
      total: { amount: '1060000' },
      series: [
        { start: '2026-05-18T00:00:00.000Z', value: { amount: '10000' } },
        { start: '2026-05-19T00:00:00.000Z', value: { amount: '50000' } },
        { start: '2026-05-20T00:00:00.000Z', value: { amount: '1000000' } },
      ],
    });
    expect(d.purchases).toEqual({ total: 4, series: [{ value: 1 }, { value: 2 }, { value: 1 }] });
    // 1,060,000 / 4 = 265,000; per day 10,000, 25,000, 1,000,000.
    expect(d.averageOrderValue).toEqual({
      total: { amount: '265000' },
      series: [{ value: { amount: '10000' } }, { value: { amount: '25000' } }, { value: { amount: '1000000' } }],
    });
    expect(d.interactions).toEqual({ total: 6, series: [{ value: 1 }, { value: 3 }, { value: 2 }] });
    expect(d.complaints).toEqual({ total: 1, series: [{ value: 0 }, { value: 1 }, { value: 0 }] });
    expect(d.complaintRate).toEqual({ total: 1 / 6, series: [{ value: 0 }, { value: 1 / 3 }, { value: 0 }] });
    // The three customers were created "now", on the 20th.
    expect(d.newCustomers).toEqual({ total: 3, series: [{ value: 0 }, { value: 0 }, { value: 3 }] });
    expect(d.segmentFlows).toEqual([{ from: 'NEW', to: 'VIP', count: 1 }]);
    expect(d.churnRate).toEqual({ total: 0, series: [{ value: 0 }, { value: 0 }, { value: 0 }] });
    // Ana, Ben and Cho were active in May.
    expect(d.monthlyActiveCustomers).toEqual([{ start: '2026-05-01T00:00:00.000Z', value: 3 }]);
    // Everyone interacted within the 30 days before the 20th (Ana on the 19th, Ben and Cho on the 20th).
    expect(d.activeCustomers).toBe(3);
    expect(d.segmentDistribution.filter((s) => s.count > 0)).toEqual([
      { segment: 'VIP', count: 1 },
      { segment: 'NEW', count: 2 },
    ]);
    expect(d.campaigns).toEqual({ campaigns: 0, delivered: 0, responseRate: 0, revenue: { amount: '0' } });
  });

  it('drills down by channel and by segment, and rolls days up into weeks and months', async () => {
    const web = await dashboard({ f: { channel: 'WEB' } });
    expect(web.revenue.total).toEqual({ amount: '30000' }); // Ana's 10,000 and Ben's 20,000
    expect(web.interactions.total).toBe(3); // and Ben's inquiry
    const vip = await dashboard({ f: { segment: 'VIP' } });
    expect(vip.revenue.total).toEqual({ amount: '1000000' }); // Cho was VIP right after it
    const week = await dashboard({ g: 'WEEK' }); // the 18th is a Monday: one week
    expect(week.revenue.series).toEqual([{ start: '2026-05-18T00:00:00.000Z', value: { amount: '1060000' } }]);
    // A campaign's own KPIs: the VIP campaign reached Cho.
    const campaign = await createCampaign(t, {
      name: 'VIP thanks',
      targetSegments: ['VIP'],
      message: 'Thanks {{name}}',
    });
    await campaignMutation(t, 'executeCampaign', { id: campaign.id });
    await settled(t, campaign.id);
    const one = await dashboard({ f: { campaignId: campaign.id } });
    expect(one.campaigns).toEqual({ campaigns: 1, delivered: 1, responseRate: 0, revenue: { amount: '0' } });
    const month = await dashboard({ g: 'MONTH' });
    expect(month.purchases.series).toEqual([{ value: 4 }]);
    expect((month.revenue.series[0] as { start: string }).start).toBe('2026-05-01T00:00:00.000Z');
  });

  it('refuses more than 366 days, a reversed range, and channel with segment', async () => {
    for (const variables of [
      { from: '2025-01-01T00:00:00.000Z', to: '2026-05-20T00:00:00.000Z' },
      { from: '2026-05-20T00:00:00.000Z', to: '2026-05-18T00:00:00.000Z' },
      { f: { channel: 'WEB', segment: 'VIP' } },
      { f: { campaignId: 'not-a-campaign' } },
    ]) {
      const res = await t.graphql(DASHBOARD, { ...range, ...variables });
      expect(res.body.errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
    }
  });

  it('is for ADMIN, SALES, MARKETING and ANALYST', async () => {
    const support = await t.graphql(DASHBOARD, range, { authorization: `Bearer ${await t.tokenFor('SUPPORT')}` });
    expect(support.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const analyst = await t.graphql(DASHBOARD, range, { authorization: `Bearer ${await t.tokenFor('ANALYST')}` });
    expect(analyst.body.errors).toBeUndefined();
  });

  it('scores RFM by rank among the customers and suggests next best actions by rule', async () => {
    const insights = async () => {
      const res = await t.graphql<{
        customers: {
          edges: Array<{
            node: {
              name: string;
              insights: {
                rfm: { code: string };
                historicalValue: { amount: string };
                predictedValue: { amount: string };
                nextBestActions: Array<{ action: string; reason: string }>;
              };
            };
          }>;
        };
      }>(
        '{ customers(first: 10) { edges { node { name insights { rfm { code } historicalValue { amount } predictedValue { amount } nextBestActions { action reason } } } } } }',
      );
      expect(res.body.errors).toBeUndefined();
      return Object.fromEntries(res.body.data!.customers.edges.map((e) => [e.node.name, e.node.insights]));
    };
    // Days since activity at noon on the 20th: Ana 1, Ben 0, Cho 0; purchases 2, 1, 1;
    // totals 40,000, 20,000, 1,000,000. Score = 1 + floor(5 × share of customers strictly worse).
    const byName = await eventually(insights, (x) => x.Cho!.nextBestActions.length === 2);
    expect(byName.Ana!.rfm.code).toBe('142');
    expect(byName.Ben!.rfm.code).toBe('211');
    expect(byName.Cho!.rfm.code).toBe('214');
    expect(byName.Cho!.historicalValue).toEqual({ amount: '1000000' });
    expect(byName.Cho!.nextBestActions).toEqual([
      { action: 'RESOLVE_COMPLAINT', reason: '1 complaint(s) in the last 7 days' },
      { action: 'VIP_RECOGNITION', reason: 'a VIP customer: thank them personally' },
    ]);
    expect(byName.Ben!.nextBestActions).toEqual([]);
  });

  it('keeps cohort retention by join month', async () => {
    const joined = (day: string) => `2026-03-${day}T09:00:00.000Z`;
    const dana = await createCustomer(t, { name: 'Dana', joinedAt: joined('05') });
    const eli = await createCustomer(t, { name: 'Eli', joinedAt: joined('20') });
    const fay = await createCustomer(t, { name: 'Fay', joinedAt: joined('25') });
    await createCustomer(t, { name: 'Gus', joinedAt: joined('28') });
    await recordInteraction(t, {
      customerId: dana.id,
      type: 'INQUIRY',
      channel: 'WEB',
      occurredAt: '2026-03-10T10:00:00.000Z',
    });
    await recordInteraction(t, {
      customerId: dana.id,
      type: 'INQUIRY',
      channel: 'WEB',
      occurredAt: '2026-04-02T10:00:00.000Z',
    });
    await recordInteraction(t, {
      customerId: dana.id,
      type: 'SUPPORT',
      channel: 'WEB',
      occurredAt: '2026-04-03T10:00:00.000Z',
    });
    await recordInteraction(t, {
      customerId: eli.id,
      type: 'INQUIRY',
      channel: 'APP',
      occurredAt: '2026-04-15T10:00:00.000Z',
    });
    await recordInteraction(t, {
      customerId: fay.id,
      type: 'COMPLAINT',
      channel: 'PHONE',
      occurredAt: '2026-05-01T10:00:00.000Z',
    });
    type Row = { month: string; customers: number; retention: number[] };
    const cohorts = async () =>
      (await t.graphql<{ cohortRetention: Row[] }>('{ cohortRetention(months: 3) { month customers retention } }')).body
        .data!.cohortRetention;
    // March: 4 joined; active in March: Dana (1/4); April: Dana and Eli (2/4, Dana once); May: Fay (1/4).
    const rows = await eventually(cohorts, (r) => r[0]?.retention[2] === 0.25);
    expect(rows).toEqual([
      { month: '2026-03', customers: 4, retention: [0.25, 0.5, 0.25] },
      { month: '2026-04', customers: 0, retention: [0, 0] },
      { month: '2026-05', customers: 3, retention: [1] },
    ]);
  });

  it('reports flows between segments whose names hold an underscore (AT_RISK)', async () => {
    clock.advance(91 * DAY_MS);
    await t.graphql('mutation { sweepSegments { changedCount } }');
    const day = clock.now().toISOString();
    const d = await eventually(
      () => dashboard({ from: day, to: day }),
      (x) => (x.segmentFlows as Array<{ to: string }>).some((f) => f.to === 'AT_RISK'),
    );
    expect(d.segmentFlows).toContainEqual({ from: 'NEW', to: 'AT_RISK', count: expect.any(Number) });
  });
});
