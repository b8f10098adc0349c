/** Operations that are too deep, too wide or too costly are refused before they run. */
import { describe, expect, it } from '@jest/globals';
import { takeSubscription, useTestServer } from './helpers/server.js';

describe('operation limits', () => {
  const t = useTestServer();

  it('refuses a query deeper than 10 levels with QUERY_TOO_COMPLEX', async () => {
    const res = await t.graphql(
      '{ customers { edges { node { interactions { edges { node { customer { interactions { edges { node { customer { name } } } } } } } } } } } }',
    );
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/depth limit of 10/),
      extensions: { code: 'QUERY_TOO_COMPLEX' },
    });
  });

  it('costs a connection by its page size and refuses an operation over the budget', async () => {
    const heavy =
      '{ customers(first: 100) { edges { node { name interactions(first: 100) { edges { node { id description } } } } } } }';
    const res = await t.graphql(heavy);
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/cost \d+ exceeds the limit of 10000/),
      extensions: { code: 'QUERY_TOO_COMPLEX' },
    });
    // The same shape with small pages is fine; so is a variable page size within budget.
    const light = await t.graphql(
      'query($n: Int) { customers(first: 20) { edges { node { name interactions(first: $n) { edges { node { id } } } } } } }',
      { n: 5 },
    );
    expect(light.body.errors).toBeUndefined();
    const viaVariable = await t.graphql(
      'query($n: Int) { customers(first: $n) { edges { node { interactions(first: $n) { edges { node { id description } } } } } } }',
      { n: 100 },
    );
    expect(viaVariable.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('costs a connection asked without `first` as a full page', async () => {
    // campaigns, deliveries, tasks, alerts and outboxMessages have no default page size.
    const unbounded = await t.graphql(
      '{ campaigns { edges { node { deliveries { edges { node { id status attempts sentAt } } } } } } }',
    );
    expect(unbounded.body.errors?.[0]).toMatchObject({
      message: expect.stringMatching(/cost \d+ exceeds the limit of 10000/),
      extensions: { code: 'QUERY_TOO_COMPLEX' },
    });
    const viaNull = await t.graphql(
      'query($n: Int) { campaigns(first: $n) { edges { node { deliveries(first: $n) { edges { node { id status } } } } } } }',
      { n: null },
    );
    expect(viaNull.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
    const bounded = await t.graphql(
      '{ campaigns(first: 10) { edges { node { deliveries(first: 10) { edges { node { id status attempts sentAt } } } } } } }',
    );
    expect(bounded.body.errors).toBeUndefined();
  });

  it('refuses more than 30 aliases', async () => {
    const aliases = Array.from({ length: 31 }, (_, i) => `a${i}: segmentPolicy { churnedAfterDays }`).join(' ');
    const res = await t.graphql(`{ ${aliases} }`);
    expect(res.body.errors?.[0]?.extensions?.code).toBe('QUERY_TOO_COMPLEX');
  });

  it('applies the same limits to subscriptions over WebSocket', async () => {
    const client = t.wsClient();
    await expect(
      takeSubscription(
        client,
        'subscription { segmentChanged { customer { interactions { edges { node { customer { interactions { edges { node { customer { name } } } } } } } } } } }',
        1,
      ),
    ).rejects.toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'QUERY_TOO_COMPLEX' }) }),
    ]);
  });

  it('refuses batched HTTP requests', async () => {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ query: '{ __typename }' }, { query: '{ __typename }' }]),
    });
    expect(res.status).toBe(400);
  });

  it('refuses a request body over 1 MB', async () => {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: '{ __typename }', variables: { pad: 'x'.repeat(1_100_000) } }),
    });
    expect(res.status).toBe(413);
  });
});
