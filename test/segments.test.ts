/**
 * The segment policy at each boundary, through the public API, with time moved by an
 * injected clock (no sleeping).
 */
import { describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { ManualClock } from '../src/shared/clock.js';
import {
  createCustomer,
  DAY_MS,
  daysBefore,
  getCustomer,
  recordInteraction,
  recordPurchase,
  sweep,
} from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';

type Summary = { segmentSummary: Array<{ segment: string; count: number }> };

describe('segments', () => {
  const clock = new ManualClock(new Date('2026-06-01T00:00:00.000Z'));
  const t = useTestServer({ clock });

  async function summary() {
    const res = await t.graphql<Summary>('{ segmentSummary { segment count } }');
    return Object.fromEntries(res.body.data!.segmentSummary.map((r) => [r.segment, r.count]));
  }

  it('summarises all five segments, zeros included, before any customer exists', async () => {
    const res = await t.graphql<Summary>('{ segmentSummary { segment count } }');
    expect(res.body.data?.segmentSummary).toEqual(
      ['VIP', 'LOYAL', 'NEW', 'AT_RISK', 'CHURNED'].map((segment) => ({ segment, count: 0 })),
    );
  });

  it('serves the default policy', async () => {
    const res = await t.graphql(
      '{ segmentPolicy { vipMinTotalPurchases { amount currency } churnedAfterDays atRiskAfterDays loyalMinPurchases } }',
    );
    expect(res.body.data).toEqual({
      segmentPolicy: {
        vipMinTotalPurchases: { amount: '1000000', currency: 'KRW' },
        churnedAfterDays: 180,
        atRiskAfterDays: 90,
        loyalMinPurchases: 5,
      },
    });
  });

  it('VIP starts at exactly 1,000,000: 999,999 is not VIP', async () => {
    const below = await createCustomer(t, { name: 'Below VIP' });
    const at = await createCustomer(t, { name: 'At VIP' });
    expect((await recordPurchase(t, { customerId: below.id, amount: '999999' })).customer?.segment).toBe('NEW');
    expect((await recordPurchase(t, { customerId: at.id, amount: '1000000' })).customer?.segment).toBe('VIP');
  });

  it('LOYAL starts at 5 purchases: 4 is still NEW', async () => {
    const c = await createCustomer(t, { name: 'Loyal Candidate' });
    for (let i = 1; i <= 4; i++)
      expect((await recordPurchase(t, { customerId: c.id, amount: '1000' })).customer?.segment).toBe('NEW');
    const fifth = await recordPurchase(t, { customerId: c.id, amount: '1000' });
    expect(fifth.customer).toMatchObject({
      segment: 'LOYAL',
      purchaseCount: 5,
      totalPurchases: { amount: '5000', currency: 'KRW' },
      averagePurchase: { amount: '1000' },
    });
  });

  it('AT_RISK after more than 90 days: 90 days is not, 91 is — moved by the sweep, with no new event', async () => {
    const c = await createCustomer(t, { name: 'Quiet Ninety', joinedAt: daysBefore(clock.now(), 90) });
    expect(c.segment).toBe('NEW');
    await sweep(t);
    expect((await getCustomer(t, c.id)).segment).toBe('NEW');
    clock.advance(DAY_MS);
    const result = await sweep(t);
    expect(result.changedCount).toBeGreaterThanOrEqual(1);
    expect((await getCustomer(t, c.id)).segment).toBe('AT_RISK');
  });

  it('CHURNED after more than 180 days: 180 is AT_RISK, 181 is CHURNED', async () => {
    const c = await createCustomer(t, { name: 'Quiet Half Year' });
    await recordInteraction(t, {
      customerId: c.id,
      type: 'INQUIRY',
      channel: 'PHONE',
      occurredAt: daysBefore(clock.now(), 180),
    });
    await sweep(t);
    expect((await getCustomer(t, c.id)).segment).toBe('AT_RISK');
    clock.advance(DAY_MS);
    await sweep(t);
    const churned = await getCustomer(
      t,
      c.id,
      'insights { churnRisk daysSinceLastInteraction } segmentHistory { from to reason }',
    );
    expect(churned.segment).toBe('CHURNED');
    expect(churned.insights).toEqual({ churnRisk: 1, daysSinceLastInteraction: 181 });
    expect(churned.segmentHistory).toEqual([
      { from: 'AT_RISK', to: 'CHURNED', reason: 'TIME' },
      { from: 'NEW', to: 'AT_RISK', reason: 'INTERACTION' },
      { from: null, to: 'NEW', reason: 'CREATED' },
    ]);
  });

  it('a churned customer who comes back is re-evaluated on the interaction', async () => {
    const c = await createCustomer(t, { name: 'Comeback', joinedAt: daysBefore(clock.now(), 400) });
    expect(c.segment).toBe('CHURNED');
    const back = await recordInteraction(t, { customerId: c.id, type: 'SUPPORT', channel: 'APP' });
    expect(back.customer?.segment).toBe('NEW');
  });

  it('MARKETING is not activity: it neither moves lastInteractionAt nor rescues a customer', async () => {
    const c = await createCustomer(t, { name: 'Newsletter Only', joinedAt: daysBefore(clock.now(), 100) });
    expect(c.segment).toBe('AT_RISK');
    const sent = await recordInteraction(t, { customerId: c.id, type: 'MARKETING', channel: 'EMAIL' });
    expect(sent.customer).toMatchObject({ segment: 'AT_RISK', lastInteractionAt: null });
  });

  it('keeps the summary equal to the customers in each segment', async () => {
    const counted = await summary();
    const res = await t.graphql<{ customers: { edges: Array<{ node: { segment: string } }> } }>(
      '{ customers(first: 100) { edges { node { segment } } } }',
    );
    const actual: Record<string, number> = { VIP: 0, LOYAL: 0, NEW: 0, AT_RISK: 0, CHURNED: 0 };
    for (const e of res.body.data!.customers.edges) actual[e.node.segment]!++;
    expect(counted).toEqual(actual);
  });

  it('a policy change re-evaluates every customer and is validated', async () => {
    const bad = await t.graphql<{ updateSegmentPolicy: { userErrors: Array<{ code: string }> } }>(
      'mutation { updateSegmentPolicy(input: { atRiskAfterDays: 200 }) { changedCount userErrors { code message } } }',
    );
    expect(bad.body.data?.updateSegmentPolicy.userErrors[0]?.code).toBe('INVALID');

    const before = await summary();
    const res = await t.graphql<{
      updateSegmentPolicy: { changedCount: number; policy: { loyalMinPurchases: number }; userErrors: unknown[] };
    }>(
      'mutation { updateSegmentPolicy(input: { loyalMinPurchases: 4, vipMinTotalPurchases: "999999" }) { changedCount policy { loyalMinPurchases } userErrors { code } } }',
    );
    expect(res.body.data?.updateSegmentPolicy.userErrors).toEqual([]);
    expect(res.body.data?.updateSegmentPolicy.changedCount).toBeGreaterThanOrEqual(1);
    const after = await summary();
    expect(after.VIP).toBe(before.VIP! + 1); // the 999,999 customer
    const total = (s: Record<string, number>) => Object.values(s).reduce((a, b) => a + b, 0);
    expect(total(after)).toBe(total(before));
  });

  it('moves a sweep wrote but did not record before it died are recorded by the next sweep, once', async () => {
    const moved = await createCustomer(t, { name: 'Moved Unrecorded', joinedAt: daysBefore(clock.now(), 85) });
    const notReached = await createCustomer(t, { name: 'Not Reached', joinedAt: daysBefore(clock.now(), 85) });
    clock.advance(6 * DAY_MS);
    const localId = (id: string) => new mongoose.Types.ObjectId(Buffer.from(id, 'base64url').toString().split(':')[1]);
    // What a sweep killed between its segment writes and their history and events leaves behind:
    // its journal entry, one customer moved, one not reached yet.
    const db = mongoose.connection.db!;
    await db
      .collection('customers')
      .updateOne(
        { _id: localId(moved.id) },
        { $set: { segment: 'AT_RISK', segmentChangedAt: clock.now(), updatedAt: clock.now() } },
      );
    await db.collection('pending_segment_moves').insertOne({
      reason: 'TIME',
      customerIds: [localId(moved.id), localId(notReached.id)],
      startedAt: new Date(clock.now().getTime() - 11 * 60_000),
    });

    await sweep(t);
    await sweep(t);
    const history = async (id: string) =>
      (await getCustomer(t, id, 'segmentHistory { from to reason changedAt }')).segmentHistory;
    expect(await history(moved.id)).toEqual([
      { from: 'NEW', to: 'AT_RISK', reason: 'TIME', changedAt: clock.now().toISOString() },
      expect.objectContaining({ from: null, to: 'NEW', reason: 'CREATED' }),
    ]);
    expect(await history(notReached.id)).toEqual([
      { from: 'NEW', to: 'AT_RISK', reason: 'TIME', changedAt: clock.now().toISOString() },
      expect.objectContaining({ from: null, to: 'NEW', reason: 'CREATED' }),
    ]);
    const events = await db
      .collection('events')
      .countDocuments({ type: 'SEGMENT_CHANGED', 'payload.customer._id': localId(moved.id), 'payload.reason': 'TIME' });
    expect(events).toBe(1);
    expect(await db.collection('pending_segment_moves').countDocuments()).toBe(0);
  });
});
