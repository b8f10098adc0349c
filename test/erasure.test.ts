/**
 * deleteCustomer (SPEC §5): personal data erased everywhere it is stored — the profile, the
 * timeline's descriptions, campaign deliveries, the event log — while the anonymous aggregates
 * stay; the erased customer takes no new interactions, edits or campaigns.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Event } from '../src/modules/events/model.js';
import { allDeliveries, campaignMutation, createCampaign, settled } from './helpers/campaigns.js';
import { createCustomer, recordInteraction, recordPurchase } from './helpers/crm.js';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('deleteCustomer', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { CAMPAIGN_POLL_MS: '50' } });
  });
  afterAll(async () => {
    await t.stop();
  });

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
});
