import { describe, expect, it } from '@jest/globals';
import WebSocket from 'ws';
import { currentSequence, nextSequence } from '../src/db/counters.js';
import { campaignMutation, createCampaign } from './helpers/campaigns.js';
import { eventually } from './helpers/process.js';
import { takeSubscription, useTestServer } from './helpers/server.js';

type StatusData = {
  systemStatus: {
    version: string;
    uptimeSeconds: number;
    activeWebSockets: number;
    activeSubscriptions: number;
    database: { isReachable: boolean };
  };
};

describe('the API server', () => {
  const t = useTestServer();

  it('answers { __typename } over POST /graphql', async () => {
    const res = await t.graphql('{ __typename }');
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ data: { __typename: 'Query' } });
  });

  it('answers a query over GET /graphql', async () => {
    const res = await fetch(`${t.url}?query=${encodeURIComponent('{ __typename }')}`, {
      headers: { accept: 'application/json', 'apollo-require-preflight': 'true' },
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ data: { __typename: 'Query' } });
  });

  it('reports the process and database status', async () => {
    const res = await t.graphql<StatusData>(
      '{ systemStatus { version uptimeSeconds activeWebSockets activeSubscriptions database { isReachable } } }',
    );
    expect(res.body.errors).toBeUndefined();
    expect(res.body.data?.systemStatus.database.isReachable).toBe(true);
    expect(res.body.data?.systemStatus.version).toMatch(/^\d+\.\d+\.\d+/);
    expect(res.body.data?.systemStatus.uptimeSeconds).toBeGreaterThan(0);
    // No test of this file has opened a WebSocket yet.
    expect(res.body.data?.systemStatus).toMatchObject({ activeWebSockets: 0, activeSubscriptions: 0 });
  });

  it('reports technical health next to the work in progress: latency, errors, lag, queues', async () => {
    type Health = { systemStatus: Record<string, number> & { queues: Record<string, number> } };
    const health = async () => {
      const res = await t.graphql<Health>(
        '{ systemStatus { eventLoopLagMs requestsPerSecond p95LatencyMs errorRate eventLogLag queues { automationSteps webhookDeliveries campaigns } } }',
      );
      expect(res.body.errors).toBeUndefined();
      return res.body.data!.systemStatus;
    };
    for (let i = 0; i < 20; i++) await t.graphql('{ __typename }');
    await t.graphql('{ customer(id: 1) }'); // a validation error: counted as an error
    // Pending work is counted: a campaign scheduled for tomorrow waits in the campaigns queue.
    const campaign = await createCampaign(t, {
      name: 'Health check',
      targetSegments: ['NEW'],
      message: 'Hi',
      scheduledAt: new Date(Date.now() + 86_400_000).toISOString(),
    });
    expect((await campaignMutation(t, 'executeCampaign', { id: campaign.id })).campaign?.status).toBe('SCHEDULED');
    // The log's lag: none once this process's tailer has reached the end of the log.
    const end = await currentSequence('events');
    await eventually(
      async () => t.server.domain.events.position,
      (position) => position >= end,
    );
    const s = await health();
    expect(s.requestsPerSecond).toBeGreaterThan(0);
    expect(s.p95LatencyMs).toBeGreaterThan(0);
    expect(s.errorRate).toBeGreaterThan(0);
    expect(s.errorRate).toBeLessThan(0.5);
    // Milliseconds: nanoseconds or microseconds of a 20 ms sampling would be far above this.
    expect(s.eventLoopLagMs).toBeLessThan(10_000);
    expect(s.eventLogLag).toBe(0);
    expect(s.queues).toEqual({ automationSteps: 0, webhookDeliveries: 0, campaigns: 1 });
    // A seq allocated by a writer that has not written its event yet holds the tailer back
    // (for a few seconds, until it records a gap): the lag counts it.
    await nextSequence('events');
    expect((await health()).eventLogLag).toBe(1);
    await campaignMutation(t, 'cancelCampaign', { id: campaign.id });
  });

  it('returns and echoes a request id on every response', async () => {
    const mine = await fetch(`${t.baseUrl}/healthz`, { headers: { 'x-request-id': 'trace-123' } });
    expect(mine.headers.get('x-request-id')).toBe('trace-123');
    const generated = await fetch(`${t.baseUrl}/healthz`);
    expect(generated.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('serves /healthz and /readyz', async () => {
    expect(await (await fetch(`${t.baseUrl}/healthz`)).json()).toEqual({
      status: 'ok',
      database: { status: 'available' },
    });
    const ready = await fetch(`${t.baseUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: 'ready' });
  });

  it('rejects an invalid query with GRAPHQL_VALIDATION_FAILED and a request id', async () => {
    const res = await t.graphql('{ noSuchField }');
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]?.extensions).toMatchObject({
      code: 'GRAPHQL_VALIDATION_FAILED',
      requestId: expect.any(String),
    });
  });

  it('rejects a bad argument with BAD_USER_INPUT', async () => {
    const client = t.wsClient();
    await expect(
      takeSubscription(client, 'subscription { systemStatus(intervalSeconds: 0) { uptimeSeconds } }', 1),
    ).resolves.toEqual([
      expect.objectContaining({
        errors: [expect.objectContaining({ extensions: expect.objectContaining({ code: 'BAD_USER_INPUT' }) })],
      }),
    ]);
  });

  it("answers a page's file that is not there with a JSON 404, not a 500", async () => {
    for (const path of ['/graphiql/', '/graphiql/nothing.js', '/dashboard/nothing.js']) {
      const res = await fetch(`${t.baseUrl}${path}`);
      expect({ path, status: res.status }).toEqual({ path, status: 404 });
      expect(((await res.json()) as { errors: unknown[] }).errors[0]).toMatchObject({
        extensions: { code: 'NOT_FOUND' },
      });
    }
  });

  it('refuses a subscription over HTTP with a 400 that points to WebSocket', async () => {
    const res = await t.graphql('subscription { systemStatus { uptimeSeconds } }');
    expect(res.status).toBe(400);
    expect(res.body.errors?.[0]).toMatchObject({
      message: expect.stringContaining('WebSocket'),
      extensions: { code: 'BAD_REQUEST' },
    });
  });

  it('streams a subscription over graphql-ws and counts it while it runs', async () => {
    const client = t.wsClient();
    const results = await takeSubscription<StatusData>(
      client,
      'subscription { systemStatus(intervalSeconds: 1) { uptimeSeconds activeWebSockets activeSubscriptions } }',
      2,
    );
    expect(results).toHaveLength(2);
    const [first, second] = results.map((r) => r.data?.systemStatus);
    expect(first?.activeWebSockets).toBeGreaterThanOrEqual(1);
    expect(first?.activeSubscriptions).toBeGreaterThanOrEqual(1);
    expect(second!.uptimeSeconds).toBeGreaterThan(first!.uptimeSeconds);
  });

  it('runs queries over graphql-ws too', async () => {
    const client = t.wsClient();
    const [result] = await takeSubscription(client, '{ __typename }', 1);
    expect(result).toEqual({ data: { __typename: 'Query' } });
  });

  it('closes a socket that never sends connection_init', async () => {
    const ws = new WebSocket(t.wsUrl, 'graphql-transport-ws');
    await new Promise((r) => ws.once('open', r));
    // Sending a subscribe before connection_init breaks the protocol: 4401 Unauthorized.
    ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: '{ __typename }' } }));
    const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)));
    expect(code).toBe(4401);
  });

  it('exposes Prometheus metrics for HTTP, GraphQL, sockets and the process', async () => {
    await t.graphql('query MetricsProbe { __typename }');
    const res = await fetch(`${t.baseUrl}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(
      /http_request_duration_seconds_count\{method="POST",route="\/graphql",status_code="200"\} \d+/,
    );
    expect(text).toMatch(
      /graphql_operation_duration_seconds_count\{operation_type="query",operation_name="MetricsProbe",outcome="success"\} 1/,
    );
    expect(text).toMatch(/graphql_ws_connections_active \d+/);
    expect(text).toMatch(/graphql_subscriptions_active \d+/);
    expect(text).toMatch(/process_resident_memory_bytes \d+/);
    expect(text).toMatch(/pulse_event_log_lag \d+/);
    expect(text).toMatch(/pulse_queue_depth\{queue="automation_steps"\} \d+/);
  });

  it('keeps the operation names in its metrics bounded: names past the first few hundred count as other', async () => {
    for (let i = 0; i < 210; i++) await t.graphql(`query Probe${i} { __typename }`);
    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    const names = new Set([...text.matchAll(/operation_name="([^"]+)"/g)].map((m) => m[1]));
    expect(names.size).toBeLessThanOrEqual(202); // 200 names, anonymous, other
    expect(names).toContain('other');
    expect(names).not.toContain('Probe209');
  });
});
