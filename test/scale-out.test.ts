/**
 * The scale-out path: three API processes on one database, subscribers spread across them,
 * interactions recorded through all three. Every subscriber sees every event once, in log
 * order; when one process is killed, its clients resume on another with `after`, losing nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { eventually, spawnEntryPoint, type ApiProcess } from './helpers/process.js';
import { startTestServer, type TestServer } from './helpers/server.js';

type Event = { interactionRecorded: { cursor: string; interaction: { description: string } } };
const SUBSCRIPTION =
  'subscription($after: String) { interactionRecorded(after: $after) { cursor interaction { description } } }';
const SUBSCRIBERS_PER_INSTANCE = 100;

/** The admin token of the in-process server: the same secret and database, valid on every instance. */
let token = '';

async function post<T>(url: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data: T; errors?: unknown };
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

type Subscriber = { client: Client; seen: Event['interactionRecorded'][]; dispose: () => void };

function subscribe(url: string, after?: string): Subscriber {
  const client = createClient({
    url: url.replace(/^http/, 'ws'),
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: () => ({ authorization: `Bearer ${token}` }),
  });
  const seen: Event['interactionRecorded'][] = [];
  const dispose = client.subscribe<Event>(
    { query: SUBSCRIPTION, variables: { after: after ?? null } },
    { next: (r) => r.data && seen.push(r.data.interactionRecorded), error: () => {}, complete: () => {} },
  );
  return { client, seen, dispose };
}

describe('scale-out: three API processes on one database', () => {
  let t: TestServer; // seeds data and owns the database for this file
  const instances: ApiProcess[] = [];
  const urls: string[] = [];
  const subscribers: Subscriber[][] = [[], [], []];

  beforeAll(async () => {
    t = await startTestServer();
    token = t.adminToken; // the same secret and database: valid on every instance
    for (let i = 0; i < 3; i++)
      instances.push(spawnEntryPoint('src/main.ts', { MONGODB_URI: process.env.MONGODB_URI, MONGODB_DB: t.dbName }));
    for (const p of instances) urls.push((await p.waitForLine(/ready at (http:\/\/\S+)\n/))[1]!);
  }, 120_000);

  afterAll(async () => {
    for (const group of subscribers) for (const s of group) await s.client.dispose();
    for (const p of instances) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
    await Promise.all(instances.map((p) => p.exited));
    await t.stop();
  });

  it('delivers every event to every subscriber exactly once, in log order, and survives losing an instance', async () => {
    const customer = await post<{ createCustomer: { customer: { id: string } } }>(
      urls[0]!,
      'mutation { createCustomer(input: { name: "Scale Out" }) { customer { id } } }',
    );
    const customerId = customer.createCustomer.customer.id;
    const record = (via: number, description: string) =>
      post(
        urls[via]!,
        'mutation($input: RecordInteractionInput!) { recordInteraction(input: $input) { userErrors { code } } }',
        {
          input: { customerId, type: 'INQUIRY', channel: 'WEB', description },
        },
      );

    for (let i = 0; i < 3; i++)
      for (let k = 0; k < SUBSCRIBERS_PER_INSTANCE; k++) subscribers[i]!.push(subscribe(urls[i]!));
    const all = () => subscribers.flat();
    // Live everywhere: each instance runs its subscriptions (it counts them once they started);
    // then one probe reaches every subscriber.
    await eventually(
      () =>
        Promise.all(
          urls.map(async (url) => {
            const status = await post<{ systemStatus: { activeSubscriptions: number } }>(
              url,
              '{ systemStatus { activeSubscriptions } }',
            );
            return status.systemStatus.activeSubscriptions;
          }),
        ),
      (counts) => counts.every((n) => n === SUBSCRIBERS_PER_INSTANCE),
      30_000,
    );
    await record(0, 'probe');
    await eventually(
      async () => all().filter((s) => s.seen.length === 0).length,
      (waiting) => waiting === 0,
      20_000,
    );
    await eventually(
      async () => new Set(all().map((s) => s.seen.at(-1)!.cursor)).size,
      (n) => n === 1,
    );
    for (const s of all()) s.seen.length = 0;

    // 30 interactions through all three instances, some at once.
    await Promise.all(Array.from({ length: 30 }, (_, i) => record(i % 3, `round one ${i}`)));
    await eventually(
      async () => Math.min(...all().map((s) => s.seen.length)),
      (n) => n >= 30,
      20_000,
    );
    const reference = all()[0]!.seen.map((e) => e.cursor);
    expect(new Set(all()[0]!.seen.map((e) => e.interaction.description)).size).toBe(30);
    for (const s of all()) expect(s.seen.map((e) => e.cursor)).toEqual(reference); // once each, same order everywhere

    // Kill instance 2 mid-stream; its clients resume on instance 0 from their last cursor.
    const lastSeenOnKilled = subscribers[2]!.map((s) => s.seen.at(-1)!.cursor);
    const stream = Promise.all(Array.from({ length: 20 }, (_, i) => record(i % 2, `round two ${i}`)));
    instances[2]!.child.kill('SIGKILL');
    await stream;
    await instances[2]!.exited;
    const survivors = [...subscribers[0]!, ...subscribers[1]!];
    await eventually(
      async () => Math.min(...survivors.map((s) => s.seen.length)),
      (n) => n >= 50,
      20_000,
    );
    const resumed = lastSeenOnKilled.map((after) => subscribe(urls[0]!, after));
    await eventually(
      async () => Math.min(...resumed.map((s) => s.seen.length)),
      (n) => n >= 20,
      20_000,
    );

    const afterKill = survivors[0]!.seen.slice(30).map((e) => e.cursor);
    for (const s of survivors) expect(s.seen.slice(30).map((e) => e.cursor)).toEqual(afterKill);
    for (const [i, s] of resumed.entries()) {
      // What the killed instance delivered, then the resumed stream: no gap, no repeat.
      const combined = [...subscribers[2]![i]!.seen.map((e) => e.cursor), ...s.seen.map((e) => e.cursor)];
      expect(combined).toEqual([...reference, ...afterKill]);
    }
    subscribers[2]!.push(...resumed);
  }, 120_000);
});
