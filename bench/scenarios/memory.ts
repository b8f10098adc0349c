import type { BenchContext, Scenario } from '../context.js';
import {
  openIdleClients,
  startApiProcess,
  startMeasuredProcess,
  type MeasuredProcess,
  type MemoryReading,
} from '../lib/measured-process.js';

const TARGET_BYTES = 50 * 1024;
/** Opened and closed before the idle reading: what the first socket allocates once is not per subscriber. */
const WARM_UP_CLIENTS = 100;

type Measured = { idle: MemoryReading; loaded: MemoryReading; perClient: { heapUsed: number; rss: number } };

/** Polls until `isDone` holds (or fails after the deadline). */
async function until(what: string, isDone: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await isDone())) {
    if (Date.now() > deadline) throw new Error(`memory: ${what} not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Memory of `server` idle, then with `count` idle clients connected (after full collections,
 * both times); `isServing(n)` says when the server holds n of them.
 */
async function measureIdleClients(
  server: MeasuredProcess & { url: string },
  mode: 'graphql' | 'raw',
  count: number,
  token: string,
  isServing: (n: number) => Promise<boolean>,
): Promise<Measured> {
  const warmUp = await openIdleClients(mode, server.url, WARM_UP_CLIENTS, token);
  await until('the warm-up clients registered', () => isServing(WARM_UP_CLIENTS));
  await warmUp.close();
  await until('the warm-up clients gone', () => isServing(0));
  const idle = await server.readMemory();
  const clients = await openIdleClients(mode, server.url, count, token);
  try {
    await until(`${count} clients registered`, () => isServing(count));
    const loaded = await server.readMemory();
    return {
      idle,
      loaded,
      perClient: { heapUsed: (loaded.heapUsed - idle.heapUsed) / count, rss: (loaded.rss - idle.rss) / count },
    };
  } finally {
    await clients.close();
  }
}

/** Our API, fresh, on the bench's database: the same secret (the bench's tokens hold) and limits. */
async function measureApi(ctx: BenchContext, count: number): Promise<Measured> {
  const secret = ctx.config.jwtSecret;
  if (!secret) throw new Error('memory: the bench API has no JWT_SECRET to share with a second process');
  const metricsToken = ctx.config.metrics.token;
  const api = await startApiProcess({
    uri: ctx.databaseUri,
    dbName: ctx.dbName,
    env: {
      JWT_SECRET: secret,
      ...(metricsToken ? { METRICS_TOKEN: metricsToken } : {}),
      // One client process is one address and one user: the limits meant for many are raised.
      RATE_LIMIT_PER_MINUTE: '100000000',
      WS_MAX_SOCKETS_PER_USER: '1000000',
      WS_MAX_SOCKETS_PER_ADDRESS: '1000000',
    },
  });
  try {
    return await measureIdleClients(api, 'graphql', count, ctx.token, async (n) => {
      const [sockets, subscriptions] = await Promise.all([
        api.metric('graphql_ws_connections_active'),
        api.metric('graphql_subscriptions_active'),
      ]);
      return sockets === n && subscriptions === n;
    });
  } finally {
    await api.stop();
  }
}

/** The floor: a bare `ws` server holding the same number of idle sockets. */
async function measureBareSockets(count: number): Promise<Measured> {
  const bare = startMeasuredProcess('bench/lib/bare-ws-server', {});
  try {
    const [, url] = await bare.waitForLine(/ready at (\S+)/, 30_000);
    // The server has each socket once its client saw the upgrade; a moment for the last frames.
    const settled = () => new Promise<boolean>((r) => setTimeout(() => r(true), 500));
    return await measureIdleClients({ ...bare, url: url! }, 'raw', count, '', settled);
  } finally {
    await bare.stop();
  }
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;

/**
 * memory: bytes per idle subscriber on a fresh API process (not the bench process, whose heap
 * the other scenarios grew): the API started as `npm start` starts it on the bench's database,
 * its memory read after full collections with no subscriber (after a warm-up of 100 opened and
 * closed), then with 1,000 (quick) or 5,000 graphql-ws subscribers from a client process,
 * each socket with one subscription (segment moves into VIP, complaints, alerts, campaign
 * progress in turn) and nothing delivered. The headline is the larger of the heap and RSS
 * growth per subscriber; the baseline is a bare `ws` server holding as many idle sockets.
 */
export async function memoryScenario(ctx: BenchContext): Promise<{ memory: Scenario }> {
  const count = ctx.size({ smoke: 200, quick: 1_000, full: 5_000 });
  const ours = await measureApi(ctx, count);
  const floor = await measureBareSockets(count);
  const oursBytes = Math.max(ours.perClient.heapUsed, ours.perClient.rss);
  const floorBytes = Math.max(floor.perClient.heapUsed, floor.perClient.rss);
  return {
    memory: {
      ours: Math.round(oursBytes),
      baseline: Math.round(floorBytes),
      unit: 'bytes/subscriber',
      ratio: +(floorBytes / Math.max(1, oursBytes)).toFixed(3),
      bytesPerSubscriber: Math.round(oursBytes),
      details: {
        subscribers: count,
        heapPerSubscriber: Math.round(ours.perClient.heapUsed),
        rssPerSubscriber: Math.round(ours.perClient.rss),
        heapIdle: ours.idle.heapUsed,
        heapWithSubscribers: ours.loaded.heapUsed,
        rssIdle: ours.idle.rss,
        rssWithSubscribers: ours.loaded.rss,
        bareHeapPerSocket: Math.round(floor.perClient.heapUsed),
        bareRssPerSocket: Math.round(floor.perClient.rss),
        targetBytes: TARGET_BYTES,
      },
      note:
        `fresh API process, ${count.toLocaleString('en')} idle graphql-ws subscribers: heap ${mib(ours.idle.heapUsed)} → ` +
        `${mib(ours.loaded.heapUsed)} (${kib(ours.perClient.heapUsed)} each), RSS ${mib(ours.idle.rss)} → ` +
        `${mib(ours.loaded.rss)} (${kib(ours.perClient.rss)} each); bare ws server ${kib(floorBytes)} per socket; ` +
        `target ≤ ${kib(TARGET_BYTES)}`,
    },
  };
}
