/** Limits that depend on configuration: the rate limit and subscriptions per socket. */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { useTestServer } from './helpers/server.js';

describe('configured limits', () => {
  const t = useTestServer({ env: { RATE_LIMIT_PER_MINUTE: '5', WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '2' } });
  beforeAll(async () => {
    // Signed in before any budget is spent (sign-ins are anonymous requests from this address).
    for (const role of ['MARKETING', 'SALES', 'ANALYST'] as const) await t.tokenFor(role);
  });

  it('answers 429 with Retry-After and RATE_LIMITED past the rate limit, per signed-in identity', async () => {
    const marketing = await t.tokenFor('MARKETING');
    const sales = await t.tokenFor('SALES');
    const statuses: number[] = [];
    // The same token written three ways is one identity with one budget.
    const spellings = [`Bearer ${marketing}`, `Bearer  ${marketing}`, `bearer ${marketing}`];
    for (let i = 0; i < 5; i++)
      statuses.push((await t.graphql('{ __typename }', undefined, { authorization: spellings[i % 3]! })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const limited = await t.graphql('{ __typename }', undefined, { authorization: spellings[2]! });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    // Another user has a budget of its own.
    expect((await t.graphql('{ __typename }', undefined, { authorization: `Bearer ${sales}` })).status).toBe(200);
    // Made-up tokens are nobody: they share the address's budget instead of getting one each.
    let i = 0;
    while ((await t.graphql('{ __typename }', undefined, { authorization: `Bearer junk-${i}` })).status === 200) i++;
    expect(i).toBeLessThanOrEqual(5);
    const fresh = await t.graphql('{ __typename }', undefined, { authorization: `Bearer junk-fresh` });
    expect(fresh.status).toBe(429);
  });

  it('caps the operations running on one WebSocket', async () => {
    const client = t.wsClient({ connectionParams: { authorization: `Bearer ${await t.tokenFor('ANALYST')}` } });
    const query = 'subscription { systemStatus(intervalSeconds: 60) { uptimeSeconds } }';
    const started = (n: number) =>
      new Promise<unknown>((resolve, reject) => {
        client.subscribe({ query }, { next: () => resolve(n), error: reject, complete: () => {} });
      });
    await started(1);
    await started(2);
    await expect(started(3)).rejects.toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'TOO_MANY_SUBSCRIPTIONS' }) }),
    ]);
  });
});
