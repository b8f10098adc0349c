import { describe, expect, it } from '@jest/globals';
import { ManualClock } from '../src/shared/clock.js';
import { createCustomer, daysBefore, recordInteraction, recordPurchase } from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';

const INSIGHTS = `totalPurchases { amount } purchaseCount averagePurchase { amount } interactionCount daysSinceLastInteraction segment lifetimeValue { amount currency } churnRisk`;

describe('customer insights', () => {
  const clock = new ManualClock(new Date('2026-09-01T12:00:00.000Z'));
  const t = useTestServer({ clock });

  it('computes value, recency and churn risk as the schema describes', async () => {
    const c = await createCustomer(t, { name: 'Insightful', joinedAt: daysBefore(clock.now(), 365) });
    for (const amount of ['50000', '150000', '120000', '80000']) {
      await recordPurchase(t, { customerId: c.id, amount, occurredAt: daysBefore(clock.now(), 30) });
    }
    await recordInteraction(t, { customerId: c.id, type: 'MARKETING', channel: 'EMAIL' });
    const res = await t.graphql<{
      customerInsights: Record<string, unknown>;
      customer: { insights: Record<string, unknown> };
    }>(`query($id: ID!) { customerInsights(id: $id) { ${INSIGHTS} } customer(id: $id) { insights { ${INSIGHTS} } } }`, {
      id: c.id,
    });
    // By hand: 4 purchases, 400,000 in total, 100,000 on average; last activity 30 days ago
    // (MARKETING is not activity). churnRisk = 30 / 180 = 0.167 (fewer than 5 purchases, not
    // CHURNED). Known for 365 days: 4 purchases a year. lifetimeValue = 400,000 + 100,000 × 4 ×
    // (1 − 0.167) = 733,200.
    const expected = {
      totalPurchases: { amount: '400000' },
      purchaseCount: 4,
      averagePurchase: { amount: '100000' },
      interactionCount: 5,
      daysSinceLastInteraction: 30,
      segment: 'NEW',
      lifetimeValue: { amount: '733200', currency: 'KRW' },
      churnRisk: 0.167,
    };
    expect(res.body.data?.customerInsights).toEqual(expected);
    expect(res.body.data?.customer.insights).toEqual(expected);
  });

  it('gives a customer with no purchase a null average and zero value', async () => {
    const c = await createCustomer(t, { name: 'Window Shopper', joinedAt: daysBefore(clock.now(), 10) });
    const res = await t.graphql<{ customerInsights: Record<string, unknown> }>(
      `query($id: ID!) { customerInsights(id: $id) { ${INSIGHTS} } }`,
      { id: c.id },
    );
    expect(res.body.data?.customerInsights).toMatchObject({
      averagePurchase: null,
      lifetimeValue: { amount: '0' },
      daysSinceLastInteraction: 10,
      churnRisk: 0.056,
    });
  });

  it('answers null for an unknown customer', async () => {
    const res = await t.graphql(
      '{ customerInsights(id: "Q3VzdG9tZXI6MDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw") { churnRisk } }',
    );
    expect(res.body).toEqual({ data: { customerInsights: null } });
  });
});
