/** Limits that depend on configuration: the rate limit and subscriptions per socket. */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestServer, type TestServer } from './helpers/server.js';

describe('configured limits', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ env: { RATE_LIMIT_PER_MINUTE: '5', WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '2' } });
  });
  afterAll(async () => {
    await t.stop();
  });

  it('answers 429 with Retry-After and RATE_LIMITED past the rate limit, per token', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++)
      statuses.push((await t.graphql('{ __typename }', undefined, { authorization: 'Bearer token-a' })).status);
    expect(statuses).toEqual([200, 200, 200, 200, 200]);
    const limited = await t.graphql('{ __typename }', undefined, { authorization: 'Bearer token-a' });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
    // Another token has a budget of its own.
    expect((await t.graphql('{ __typename }', undefined, { authorization: 'Bearer token-b' })).status).toBe(200);
  });

  it('caps the operations running on one WebSocket', async () => {
    const client = t.wsClient();
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
