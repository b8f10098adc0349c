/**
 * deleteCustomer: personal data erased everywhere it is stored — the profile, the
 * timeline's descriptions, campaign deliveries, the event log — while the anonymous aggregates
 * stay; the erased customer takes no new interactions, edits or campaigns.
 */
import { describe, expect, it } from '@jest/globals';
import { Event } from '../src/events/model.js';
import { allDeliveries, campaignMutation, createCampaign, settled } from './helpers/campaigns.js';
import { createCustomer, recordInteraction, recordPurchase } from './helpers/crm.js';
import { useTestServer } from './helpers/server.js';

describe('deleteCustomer', () => {
  const t = useTestServer({ env: { CAMPAIGN_POLL_MS: '50' } });

  const DELETE = 'mutation($id: ID!) { deleteCustomer(id: $id) { deletedId userErrors { field code } } }';

  it('erases the personal data, keeps the aggregates, and refuses what would bring data back', async () => {
    const c = await createCustomer(t, {
      name: 'Park Jiwoo',
      email: 'jiwoo.park@example.com',
      phone: '010-2222-3333',
      tags: ['vip-candidate'],
    });
    await recordPurchase(t, { customerId: c.id, amount: '45000', description: 'bought a gift for Jiwoo' });
    await recordInteraction(t, {
      customerId: c.id,
      type: 'INQUIRY',
      channel: 'EMAIL',
      description: 'asked about 010-2222-3333',
    });
    const campaign = await createCampaign(t, { name: 'Spring', targetSegments: ['NEW'], message: 'Hi {{name}}' });
    await campaignMutation(t, 'executeCampaign', { id: campaign.id });
    await settled(t, campaign.id);

    const forbidden = await t.graphql(DELETE, { id: c.id }, { authorization: `Bearer ${await t.tokenFor('SALES')}` });
    expect(forbidden.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const deleted = await t.graphql<{ deleteCustomer: { deletedId: string } }>(DELETE, { id: c.id });
    expect(deleted.body.data).toEqual({ deleteCustomer: { deletedId: c.id, userErrors: [] } });

    const after = await t.graphql<{ customer: Record<string, unknown> }>(
      `query($id: ID!) { customer(id: $id) { name email phone tags erasedAt unsubscribedAt purchaseCount totalPurchases { amount }
        interactions { edges { node { type description } } } } }`,
      { id: c.id },
    );
    expect(after.body.data!.customer).toMatchObject({
      name: 'Erased customer',
      email: null,
      phone: null,
      tags: [],
      purchaseCount: 1,
      totalPurchases: { amount: '45000' },
    });
    expect(after.body.data!.customer.erasedAt).not.toBeNull();
    expect(JSON.stringify(after.body.data)).not.toMatch(/Jiwoo|2222|jiwoo/);
    const deliveries = await allDeliveries(t, campaign.id, 'message customer { id name }');
    expect(deliveries.find((d) => d.customer.id === c.id)?.message).toBe('[erased]');
    const log = JSON.stringify(await Event.find({}).lean());
    expect(log).not.toMatch(/jiwoo|Jiwoo|01022223333|2222-3333/);

    // Nothing brings the data back, and the customer is not searchable by it.
    const more = await recordInteraction(t, { customerId: c.id, type: 'INQUIRY', channel: 'WEB' });
    expect(more.userErrors).toEqual([expect.objectContaining({ code: 'NOT_FOUND' })]);
    const batch = await t.graphql<{ recordInteractions: { results: Array<{ userErrors: Array<{ code: string }> }> } }>(
      'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { results { userErrors { code } } } }',
      { inputs: [{ customerId: c.id, type: 'INQUIRY', channel: 'WEB' }] },
    );
    expect(batch.body.data?.recordInteractions.results[0]?.userErrors).toEqual([{ code: 'NOT_FOUND' }]);
    const edit = await t.graphql<{ updateCustomer: { userErrors: Array<{ code: string }> } }>(
      'mutation($id: ID!) { updateCustomer(id: $id, input: { email: "again@example.com" }) { userErrors { code } } }',
      { id: c.id },
    );
    expect(edit.body.data?.updateCustomer.userErrors).toEqual([{ code: 'INVALID_STATE' }]);
    const search = await t.graphql<{ customers: { totalCount: number } }>(
      '{ customers(filter: { search: "jiwoo" }) { totalCount } }',
    );
    expect(search.body.data?.customers.totalCount).toBe(0);

    // Deleting again changes nothing; the address is free for a new customer.
    expect((await t.graphql(DELETE, { id: c.id })).body.data).toEqual({
      deleteCustomer: { deletedId: c.id, userErrors: [] },
    });
    await createCustomer(t, { name: 'Someone Else', email: 'jiwoo.park@example.com' });
    const next = await createCampaign(t, { name: 'Later', targetSegments: ['NEW'], message: 'Hi' });
    await campaignMutation(t, 'executeCampaign', { id: next.id });
    await settled(t, next.id);
    expect((await allDeliveries(t, next.id)).map((d) => d.customer.id)).not.toContain(c.id);
  });

  it('answers NOT_FOUND for an unknown id', async () => {
    const res = await t.graphql(DELETE, { id: 'nope' });
    expect(res.body.data).toEqual({
      deleteCustomer: { deletedId: null, userErrors: [{ field: ['id'], code: 'NOT_FOUND' }] },
    });
  });

  it('mergeCustomers: one customer with both timelines, recomputed totals, the duplicate erased', async () => {
    const MERGE =
      'mutation($p: ID!, $d: ID!) { mergeCustomers(primaryId: $p, duplicateId: $d) { customer { id email phone tags purchaseCount interactions { totalCount } totalPurchases { amount } } userErrors { field code } } }';
    const primary = await createCustomer(t, { name: 'Choi Minseo', email: 'minseo@example.com', tags: ['newsletter'] });
    const duplicate = await createCustomer(t, { name: 'Minseo Choi', phone: '010-5555-6666', tags: ['store'] });
    await recordPurchase(t, { customerId: primary.id, amount: '10000' });
    await recordPurchase(t, { customerId: duplicate.id, amount: '25000' });
    await recordInteraction(t, { customerId: duplicate.id, type: 'INQUIRY', channel: 'PHONE', description: 'size?' });
    const summary = async () =>
      (
        await t.graphql<{ segmentSummary: Array<{ count: number }> }>('{ segmentSummary { count } }')
      ).body.data!.segmentSummary.reduce((n, r) => n + r.count, 0);
    const before = await summary();

    expect((await t.graphql(MERGE, { p: primary.id, d: primary.id })).body.data).toEqual({
      mergeCustomers: { customer: null, userErrors: [{ field: ['duplicateId'], code: 'INVALID' }] },
    });
    const merged = await t.graphql<{ mergeCustomers: { customer: Record<string, unknown>; userErrors: unknown[] } }>(
      MERGE,
      {
        p: primary.id,
        d: duplicate.id,
      },
    );
    expect(merged.body.data!.mergeCustomers).toEqual({
      customer: {
        id: primary.id,
        email: 'minseo@example.com',
        phone: '+821055556666',
        tags: ['newsletter', 'store'],
        purchaseCount: 2,
        interactions: { totalCount: 3 },
        totalPurchases: { amount: '35000' },
      },
      userErrors: [],
    });
    const dup = await t.graphql<{ customer: Record<string, unknown> }>(
      'query($id: ID!) { customer(id: $id) { name phone erasedAt interactions { totalCount } mergedInto { id } } }',
      { id: duplicate.id },
    );
    expect(dup.body.data!.customer).toMatchObject({
      name: 'Erased customer',
      phone: null,
      interactions: { totalCount: 0 },
      mergedInto: { id: primary.id },
    });
    // The duplicate's audit entries stay, without its personal values.
    const audit = await t.graphql<{ auditLog: { edges: Array<{ node: { fields: string[]; input: string } }> } }>(
      'query($id: String) { auditLog(filter: { targetId: $id }) { edges { node { fields input } } } }',
      { id: duplicate.id },
    );
    const entries = audit.body.data!.auditLog.edges.map((e) => e.node);
    expect(entries.map((e) => e.fields[0])).toEqual([
      'mergeCustomers',
      'recordInteraction',
      'recordPurchase',
      'createCustomer',
    ]);
    expect(JSON.stringify(entries)).not.toMatch(/Minseo Choi|5555-6666|store/);
    // Both records still count (the duplicate as an anonymous one), and nothing reaches it.
    expect(await summary()).toBe(before);
    const late = await recordInteraction(t, { customerId: duplicate.id, type: 'INQUIRY', channel: 'WEB' });
    expect(late.userErrors).toEqual([expect.objectContaining({ code: 'NOT_FOUND' })]);
    // Merging again (as after an interruption) finishes without changing anything.
    const again = await t.graphql<{ mergeCustomers: { customer: { purchaseCount: number }; userErrors: unknown[] } }>(
      MERGE,
      {
        p: primary.id,
        d: duplicate.id,
      },
    );
    expect(again.body.data!.mergeCustomers).toMatchObject({ customer: { purchaseCount: 2 }, userErrors: [] });
  });
});
