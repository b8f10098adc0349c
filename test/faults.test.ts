/**
 * The API survives its database going away and coming back: the embedded engine killed with
 * SIGKILL under a steady write load, and an external engine (MONGODB_URI) stopped and started
 * again. Each run checks that the API recovers by itself, that every acknowledged write is
 * stored, that a live subscriber resuming from its cursor gets every event exactly once and in
 * order, and that a shutdown during an outage ends within its deadline with exit code 0.
 */
import { readFile } from 'node:fs/promises';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { startFerretDb, type RunningEngine } from '../src/db/ferretdb/engine.js';
import { enginePidsFor, eventually, spawnEntryPoint, type ApiProcess } from './helpers/process.js';
import { login, TEST_AUTH_ENV } from './helpers/server.js';

type Api = { process: ApiProcess; baseUrl: string; token: string };

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function startApi(env: Record<string, string | undefined>): Promise<Api> {
  const api = spawnEntryPoint('src/main.ts', { LOG_LEVEL: 'info', ...env });
  cleanups.push(async () => {
    if (api.child.exitCode === null && api.child.signalCode === null) api.child.kill('SIGKILL');
    await api.exited;
  });
  const [, url] = await api.waitForLine(/ready at (\S+)/, 120_000);
  const baseUrl = url!.replace(/\/graphql$/, '');
  const token = await login(baseUrl, TEST_AUTH_ENV.CRM_ADMIN_EMAIL, TEST_AUTH_ENV.CRM_ADMIN_PASSWORD);
  return { process: api, baseUrl, token };
}

async function graphql<T>(api: Api, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${api.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: Array<{ message: string; extensions?: { code?: string } }> };
  return { status: res.status, headers: res.headers, body };
}

async function createCustomer(api: Api): Promise<string> {
  const res = await graphql<{ createCustomer: { customer: { id: string } } }>(
    api,
    'mutation { createCustomer(input: { name: "Steady Writer" }) { customer { id } } }',
  );
  return res.body.data!.createCustomer.customer.id;
}

/**
 * Records interactions one after another, each under its own externalId, until stopped; an
 * attempt that fails (the database is away, the connection broke) is sent again with the same
 * key until it is acknowledged, so each key is stored exactly once.
 */
function startWriter(api: Api, customerId: string, prefix: string) {
  const acknowledged: string[] = [];
  const refusals = new Map<string, number>();
  let isStopped = false;
  const done = (async () => {
    for (let i = 0; !isStopped; i++) {
      const key = `${prefix}-${i}`;
      while (!isStopped) {
        try {
          const res = await graphql<{ recordInteraction: { interaction: { id: string } | null } }>(
            api,
            `
              mutation ($input: RecordInteractionInput!) {
                recordInteraction(input: $input) {
                  interaction {
                    id
                  }
                }
              }
            `,
            { input: { customerId, type: 'SUPPORT', channel: 'PHONE', description: key, externalId: key } },
          );
          if (res.body.data?.recordInteraction.interaction) {
            acknowledged.push(key);
            break;
          }
          const code = res.body.errors?.[0]?.extensions?.code ?? 'NONE';
          refusals.set(code, (refusals.get(code) ?? 0) + 1);
        } catch {
          refusals.set('NETWORK', (refusals.get('NETWORK') ?? 0) + 1);
        }
        await new Promise((r) => setTimeout(r, 50)); // a client's pause before it retries
      }
    }
  })();
  return {
    prefix,
    acknowledged,
    refusals,
    stop: async () => {
      isStopped = true;
      await done;
    },
  };
}

type Writer = ReturnType<typeof startWriter>;

/**
 * Resolves once the subscriber's subscription is live on the server: a subscription without a
 * cursor gets the events from when the server set it up, which is some time after the client
 * sent it. A probe interaction is recorded until one arrives (a probe recorded before the
 * subscription began never does); the probes are then dropped from what was received.
 */
async function subscriptionIsLive(api: Api, customerId: string, subscriber: ReturnType<typeof startSubscriber>) {
  for (let probe = 0; ; probe++) {
    const key = `probe-${probe}`;
    await graphql(
      api,
      'mutation ($input: RecordInteractionInput!) { recordInteraction(input: $input) { userErrors { code } } }',
      {
        input: { customerId, type: 'SUPPORT', channel: 'PHONE', description: key, externalId: key },
      },
    );
    const arrived = await eventually(
      async () => subscriber.received.includes(key),
      (isIn) => isIn,
      2_000,
    ).catch(() => false);
    if (arrived) break;
    if (probe >= 20) throw new Error('the subscription never went live');
  }
  subscriber.received.splice(0);
}

/**
 * A live subscriber of the timeline that, whenever its subscription ends or its socket drops,
 * subscribes again from the last cursor it received: what a client is told to do.
 */
function startSubscriber(api: Api) {
  const received: string[] = [];
  let cursor: string | null = null;
  let isStopped = false;
  let client: Client | undefined;
  const subscribeFromCursor = () => {
    if (isStopped) return;
    client ??= createClient({
      url: `${api.baseUrl.replace(/^http/, 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      // No silent resubscription with the first cursor: an ended subscription is sent again
      // from the last cursor (below), on a new socket when the old one closed.
      retryAttempts: 0,
      lazy: true,
      connectionParams: { authorization: `Bearer ${api.token}` },
    });
    client.subscribe<{ interactionRecorded: { cursor: string; interaction: { externalId: string } } }>(
      {
        query: `subscription($after: String) { interactionRecorded(after: $after) { cursor interaction { externalId } } }`,
        variables: { after: cursor },
      },
      {
        next: (result) => {
          const event = result.data?.interactionRecorded;
          if (!event) return;
          received.push(event.interaction.externalId);
          cursor = event.cursor;
        },
        error: () => setTimeout(subscribeFromCursor, 200),
        complete: () => setTimeout(subscribeFromCursor, 200),
      },
    );
  };
  return {
    received,
    start: subscribeFromCursor,
    stop: async () => {
      isStopped = true;
      await client?.dispose();
    },
  };
}

async function status(api: Api, route: '/readyz' | '/healthz') {
  const res = await fetch(`${api.baseUrl}${route}`);
  return { status: res.status, body: (await res.json()) as { database?: { status?: string } } };
}

/** Waits until the writers together have had `n` more writes acknowledged. */
const writesMore = (writers: Writer[], n: number) => {
  const count = () => writers.reduce((sum, w) => sum + w.acknowledged.length, 0);
  const target = count() + n;
  return eventually(
    async () => count(),
    (c) => c >= target,
    30_000,
  );
};

/** Three clients writing at once, each its own sequence of keys. */
function startWriters(api: Api, customerId: string): Writer[] {
  const writers = ['a', 'b', 'c'].map((prefix) => startWriter(api, customerId, prefix));
  for (const w of writers) cleanups.push(w.stop);
  return writers;
}

const stopWriters = (writers: Writer[]) => Promise.all(writers.map((w) => w.stop()));

/** Every acknowledged key stored once, and seen once by the subscriber, each writer's in order. */
async function expectNothingLost(api: Api, customerId: string, writers: Writer[], seen: string[]) {
  type TimelinePage = {
    edges: Array<{ node: { externalId: string } }>;
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
  const acknowledged = writers.flatMap((w) => w.acknowledged);
  const stored: string[] = [];
  let after: string | null = null;
  for (;;) {
    const res: { body: { data?: { customer: { interactions: TimelinePage } } } } = await graphql(
      api,
      `
        query ($id: ID!, $after: String) {
          customer(id: $id) {
            interactions(first: 100, after: $after) {
              edges {
                node {
                  externalId
                }
              }
              pageInfo {
                hasNextPage
                endCursor
              }
            }
          }
        }
      `,
      { id: customerId, after },
    );
    const page: TimelinePage = res.body.data!.customer.interactions;
    stored.push(...page.edges.map((e) => e.node.externalId).filter((key) => !key.startsWith('probe-')));
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  expect(new Set(stored).size).toBe(stored.length);
  expect(stored.sort()).toEqual([...acknowledged].sort());
  await eventually(
    async () => seen.length,
    (n) => n >= acknowledged.length,
    30_000,
  );
  expect([...seen].sort()).toEqual([...acknowledged].sort());
  for (const w of writers) expect(seen.filter((key) => key.startsWith(`${w.prefix}-`))).toEqual(w.acknowledged);
}

/** SIGTERM, and the process's exit; on an unclean exit its last log lines are shown. */
async function stopApi(api: Api) {
  api.process.child.kill('SIGTERM');
  const exit = await api.process.exited;
  if (exit.code !== 0) {
    const { stdout, stderr } = api.process.output();
    const lastLines = stdout
      .split('\n')
      .filter((line) => !line.includes('request completed'))
      .slice(-40);
    process.stdout.write(
      `The API exited with ${JSON.stringify(exit)}; its last lines:\n${lastLines.join('\n')}\n${stderr}\n`,
    );
  }
  return exit;
}

/** Waits until /readyz answers `code` (the database away: 503; back: 200). */
const readinessBecomes = (api: Api, code: number, timeoutMs: number) =>
  eventually(
    () => status(api, '/readyz'),
    (r) => r.status === code,
    timeoutMs,
  );

const logLines = (api: Api, message: string) =>
  api.process
    .output()
    .stdout.split('\n')
    .filter((line) => line.includes(`"msg":"${message}`)).length;

describe('faults', () => {
  it('recovers by itself after the embedded engine is killed under load', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-faults-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const api = await startApi({ CRM_DATA_DIR: dataDir });
    const customerId = await createCustomer(api);
    const subscriber = startSubscriber(api);
    cleanups.push(subscriber.stop);
    subscriber.start();
    await subscriptionIsLive(api, customerId, subscriber);
    const writers = startWriters(api, customerId);
    await writesMore(writers, 30);

    const [engine] = await engineProcesses(dataDir);
    process.kill(engine!, 'SIGKILL');
    // The outage is seen, and said once: it can be over (the engine restarted) before a poll of
    // /readyz would catch it, so the API's own line is the fact waited for. (/readyz answering
    // 503 meanwhile is checked with the external engine, which stays away until started again.)
    await eventually(
      async () => logLines(api, 'database unavailable'),
      (n) => n === 1,
      10_000,
    );
    expect((await status(api, '/healthz')).status).toBe(200);
    await readinessBecomes(api, 200, 20_000);
    expect((await status(api, '/healthz')).body.database?.status).toBe('available');
    await writesMore(writers, 30);
    await stopWriters(writers);

    await expectNothingLost(api, customerId, writers, subscriber.received);
    await subscriber.stop();
    // One line when the database went away and one when it came back, not one per failed call.
    expect(logLines(api, 'database unavailable')).toBe(1);
    expect(logLines(api, 'database available again')).toBe(1);
    expect(await stopApi(api)).toEqual({ code: 0, signal: null });
  }, 180_000);

  it('gives up with a message and exit code 1 when the engine cannot be started again', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-faults-giveup-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const api = await startApi({ CRM_DATA_DIR: dataDir });
    // The data folder is taken away (the engine keeps its open files until it dies): every
    // start that follows fails.
    await rename(dataDir, `${dataDir}.gone`);
    cleanups.push(() => rm(`${dataDir}.gone`, { recursive: true, force: true }));
    await writeFile(dataDir, 'not a folder');
    const [engine] = await engineProcesses(`${dataDir}`);
    process.kill(engine!, 'SIGKILL');
    const exit = await api.process.exited;
    expect(exit).toEqual({ code: 1, signal: null });
    expect(api.process.output().stderr).toMatch(
      /The embedded database stopped and could not be kept running \(\d+ exits or failed starts .*Check the free disk space and the permissions of /,
    );
    expect(await enginePidsFor(dataDir)).toEqual([]);
  }, 120_000);

  it('recovers when an external engine stops and starts again, and shuts down cleanly while it is away', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-faults-external-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const binary = process.env.PULSE_TEST_ENGINE_BINARY!;
    let engine: RunningEngine = await startFerretDb({ binary, dataDir });
    cleanups.push(() => engine.stop());
    const api = await startApi({ MONGODB_URI: engine.uri, MONGODB_DB: 'faults' });
    const customerId = await createCustomer(api);
    const subscriber = startSubscriber(api);
    cleanups.push(subscriber.stop);
    subscriber.start();
    await subscriptionIsLive(api, customerId, subscriber);
    const writers = startWriters(api, customerId);
    await writesMore(writers, 30);

    await engine.stop();
    await readinessBecomes(api, 503, 10_000);
    const health = await eventually(
      () => status(api, '/healthz'),
      (r) => r.body.database?.status === 'unavailable',
      10_000,
    );
    expect(health.status).toBe(200);
    // Operations are refused at once, with a code that says to retry.
    const refused = await graphql(api, '{ customers(first: 1) { totalCount } }');
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBeTruthy();
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('DATABASE_UNAVAILABLE');

    engine = await startFerretDb({ binary, dataDir, port: engine.port });
    await readinessBecomes(api, 200, 20_000);
    await writesMore(writers, 30);
    await stopWriters(writers);
    await expectNothingLost(api, customerId, writers, subscriber.received);
    await subscriber.stop();

    // A shutdown during an outage does not wait on calls that cannot complete.
    await engine.stop();
    await readinessBecomes(api, 503, 10_000);
    expect(await stopApi(api)).toEqual({ code: 0, signal: null });
  }, 180_000);
});

/** FerretDB's own process serving `dataDir` (not its watchdog shell). */
async function engineProcesses(dataDir: string): Promise<number[]> {
  const pids = await enginePidsFor(dataDir);
  const engines: number[] = [];
  for (const pid of pids) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!cmdline.startsWith('sh\0')) engines.push(pid);
  }
  expect(engines).toHaveLength(1);
  return engines;
}
