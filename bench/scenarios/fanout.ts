/**
 * fan-out: EVENTS segment changes, one every PACING_MS, delivered to `subscribers` graphql-ws
 * subscribers while a steady load of other mutations runs (bench/fanout-writes.ts). Subscribers
 * are spread over CLIENT_PROCESSES processes and six groups: three queries with different
 * selections and filters, each as ADMIN and as ANALYST (who sees e-mail and phone masked).
 *   fanout               written and delivered by the bench's API instance;
 *   fanoutCrossInstance  written through the bench's instance, delivered by a second API
 *                        process on the same database (its tailer reads the log).
 * Latency runs from each event's write (the mutation's start) to each receipt; p50/p99 are over
 * every delivery of every event. Throughput is deliveries per second of delivery time: the
 * union, over the events, of the time from an event's write to its last receipt (so the pacing
 * between events counts for neither side).
 *
 * Baseline: a plain `ws` server in this process, the same number of sockets spread over the
 * same client processes, sent the same 20 payloads (the bytes each group received from us) at
 * the same pacing, each serialised once per group and sent to every socket of the group.
 * Latency there runs from the start of the serialisation to each receipt.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionResult } from 'graphql-ws';
import { WebSocketServer, type WebSocket } from 'ws';
import type { BenchContext, Scenario } from '../context.js';
import type { SubscriberGroup } from '../fanout-clients.js';
import { SubscriberProcesses, type Receipts } from '../fanout-client-processes.js';
import { createLoadCustomers, LOAD_PER_SECOND, startWriteLoad, writeMeasuredEvent } from '../fanout-writes.js';
import { startSecondInstance } from '../second-instance.js';

const EVENTS = 20;
const WARMUP_EVENTS = 5;
const PACING_MS = Number(process.env.FANOUT_PACING ?? 200);
const CLIENT_PROCESSES = 2;
/** The load runs this long before the first measured event: it is steady when they start. */
const LOAD_LEAD_MS = 1_000;
/** How long after its last write a round may take to be delivered in full. */
const DELIVERY_DEADLINE_MS = 60_000;

const QUERIES: Array<Omit<SubscriberGroup, 'token'> & { showsEmail: boolean }> = [
  {
    query: 'subscription { segmentChanged(segments: [NEW]) { to cursor customer { id name code segment } } }',
    showsEmail: false,
  },
  {
    query:
      'subscription { segmentChanged { from to reason changedAt cursor customer { id name email phone segment } } }',
    showsEmail: true,
  },
  {
    query:
      'subscription Joined($segments: [Segment!]) { segmentChanged(segments: $segments) { to changedAt customer { id code name email tags joinedAt } } }',
    variables: { segments: ['NEW', 'LOYAL', 'VIP'] },
    showsEmail: true,
  },
];

type Timed = { startedAt: number[]; receipts: Receipts };

/** The wall clock with sub-millisecond resolution, comparable with the client processes'. */
const now = () => performance.timeOrigin + performance.now();
const sleepUntil = (at: number) => new Promise((r) => setTimeout(r, Math.max(0, at - now())));

/**
 * Runs `send(k)` for k < count, one after another, the k-th no earlier than k × PACING_MS from
 * the first: events stay in log order. Returns when each began.
 */
async function paced(count: number, send: (k: number) => Promise<void> | void): Promise<number[]> {
  const startedAt: number[] = [];
  const first = now();
  for (let k = 0; k < count; k++) {
    await sleepUntil(first + k * PACING_MS);
    startedAt.push(now());
    if (process.env.FANOUT_DEBUG) console.error(`start ${k} ${startedAt[k]!.toFixed(1)}`);
    await send(k);
    if (process.env.FANOUT_DEBUG) console.error(`write ${k}: ${(now() - startedAt[k]!).toFixed(1)} ms`);
  }
  return startedAt;
}

function assertComplete(what: string, r: Receipts): void {
  if (r.missing || r.outOfOrder || r.duplicates)
    throw new Error(`${what}: ${r.missing} deliveries missing, ${r.outOfOrder} out of order, ${r.duplicates} repeated`);
}

/** Masking is the product's result, checked rather than trusted: ANALYST e-mails are masked, ADMIN's not. */
function assertMasking(groups: Array<SubscriberGroup & { role: string; showsEmail: boolean }>, r: Receipts): void {
  groups.forEach((group, g) => {
    if (!group.showsEmail) return;
    const result = r.samples[g]![0] as { data?: { segmentChanged?: { customer?: { email?: string } } } } | null;
    const email = result?.data?.segmentChanged?.customer?.email ?? '';
    if (email.includes('*') !== (group.role === 'ANALYST'))
      throw new Error(`fan-out: ${group.role} received the e-mail ${email}`);
  });
}

async function measureOurs(
  ctx: BenchContext,
  wsUrl: string,
  groups: Array<SubscriberGroup & { role: string; showsEmail: boolean }>,
  groupOfEach: number[],
  label: string,
): Promise<Timed> {
  const loadCustomers = await createLoadCustomers(ctx);
  const clients = new SubscriberProcesses(CLIENT_PROCESSES);
  let serial = 0;
  const write = (tag: string) => (k: number | string) => writeMeasuredEvent(ctx, `${tag}-${k}`, serial++);
  try {
    await clients.open('graphql', wsUrl, groups, groupOfEach, () => write(`${label}P`)('probe'));
    const warmupLoad = startWriteLoad(ctx, loadCustomers);
    await clients.expect(`${label}W`, WARMUP_EVENTS, DELIVERY_DEADLINE_MS);
    await paced(WARMUP_EVENTS, write(`${label}W`));
    assertComplete(`${label} warm-up`, await clients.receipts(`${label}W`));
    await warmupLoad.stop();
    await ctx.drained();
    await ctx.settle();

    const load = startWriteLoad(ctx, loadCustomers);
    await new Promise((r) => setTimeout(r, LOAD_LEAD_MS));
    const { Session } = await import('node:inspector/promises');
    const session = new Session();
    if (process.env.FANOUT_PROFILE) {
      session.connect();
      await session.post('Profiler.enable');
      await session.post('Profiler.setSamplingInterval', { interval: 200 });
      await session.post('Profiler.start');
    }
    await clients.expect(`${label}M`, EVENTS, EVENTS * PACING_MS + DELIVERY_DEADLINE_MS);
    const startedAt = await paced(EVENTS, write(`${label}M`));
    const receipts = await clients.receipts(`${label}M`);
    if (process.env.FANOUT_PROFILE) {
      const { profile } = await session.post('Profiler.stop');
      const { writeFileSync } = await import('node:fs');
      writeFileSync(`.exp/prof/${label}-${Date.now()}.cpuprofile`, JSON.stringify(profile));
      session.disconnect();
    }
    const loadDone = await load.stop();
    if (loadDone.failed) throw new Error(`fan-out load: ${loadDone.failed} of ${loadDone.writes} writes failed`);
    assertComplete(label, receipts);
    assertMasking(groups, receipts);
    return { startedAt, receipts };
  } finally {
    await clients.close();
    await ctx.drained();
    await ctx.settle();
  }
}

/** A copy of a result our subscribers received, renamed to the baseline's event. */
function renamed(sample: ExecutionResult | null, name: string): ExecutionResult {
  const copy = structuredClone(sample) as { data?: { segmentChanged?: { customer?: { name?: string } } } } | null;
  const customer = copy?.data?.segmentChanged?.customer;
  if (!customer?.name) throw new Error('fan-out baseline: a group received no sample to send');
  customer.name = name;
  return copy as ExecutionResult;
}

async function measureBaseline(ours: Receipts, groupOfEach: number[], label: string): Promise<Timed> {
  const groupCount = ours.samples.length;
  const sockets = Array.from({ length: groupCount }, () => new Set<WebSocket>());
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  wss.on('connection', (socket, request) => {
    const group = Number(new URL(request.url ?? '/', 'http://raw').searchParams.get('group'));
    sockets[group]!.add(socket);
    socket.on('close', () => sockets[group]!.delete(socket));
    socket.send('{"type":"hello"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // One id for a group's payload: the message is serialised once and every socket gets the same bytes.
  const broadcast = (tag: string) => (k: number) => {
    for (let g = 0; g < groupCount; g++) {
      const payload = renamed(ours.samples[g]![k % EVENTS]!, `${tag}-${k}`);
      const text = JSON.stringify({ id: randomUUID(), type: 'next', payload });
      for (const socket of sockets[g]!) socket.send(text);
    }
  };
  const clients = new SubscriberProcesses(CLIENT_PROCESSES);
  const groups = Array.from({ length: groupCount }, () => ({ query: '', token: '' }));
  try {
    await clients.open('raw', url, groups, groupOfEach, async () => {});
    await clients.expect(`${label}w`, WARMUP_EVENTS, DELIVERY_DEADLINE_MS);
    await paced(WARMUP_EVENTS, broadcast(`${label}w`));
    assertComplete(`${label} baseline warm-up`, await clients.receipts(`${label}w`));
    await clients.expect(`${label}m`, EVENTS, EVENTS * PACING_MS + DELIVERY_DEADLINE_MS);
    const startedAt = await paced(EVENTS, broadcast(`${label}m`));
    const receipts = await clients.receipts(`${label}m`);
    assertComplete(`${label} baseline`, receipts);
    return { startedAt, receipts };
  } finally {
    await clients.close();
    wss.close();
    server.close();
  }
}

function percentile(sorted: number[], p: number): number {
  return +sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!.toFixed(1);
}

/** Latencies of every delivery, sorted, and deliveries per second of delivery time. */
function figures({ startedAt, receipts }: Timed) {
  const latencies = receipts.receivedAt.flatMap((times, k) => times.map((t) => t - startedAt[k]!));
  latencies.sort((a, b) => a - b);
  const spans = receipts.receivedAt.map((times, k) => [startedAt[k]!, Math.max(...times)] as const);
  let busyMs = 0;
  let coveredUntil = -Infinity;
  for (const [from, to] of spans) {
    busyMs += Math.max(0, to - Math.max(from, coveredUntil));
    coveredUntil = Math.max(coveredUntil, to);
  }
  return { latencies, perSecond: latencies.length / (busyMs / 1000) };
}

function scenarioOf(ours: Timed, baseline: Timed, subscribers: number, where: string): Scenario {
  if (process.env.FANOUT_DEBUG)
    for (const t of [ours, baseline])
      console.error(
        t.receipts.receivedAt
          .map((times, k) => {
            const l = times.map((x) => x - t.startedAt[k]!).sort((a, b) => a - b);
            return `${k}: +${(t.startedAt[k]! - t.startedAt[0]!).toFixed(0)} first ${l[0]!.toFixed(1)} p50 ${l[l.length >> 1]!.toFixed(1)} last ${l.at(-1)!.toFixed(1)}`;
          })
          .join('\n'),
      );
  const o = figures(ours);
  const b = figures(baseline);
  return {
    ours: Math.round(o.perSecond),
    baseline: Math.round(b.perSecond),
    unit: 'deliveries/s',
    ratio: +(o.perSecond / b.perSecond).toFixed(3),
    p50Ms: percentile(o.latencies, 50),
    p99Ms: percentile(o.latencies, 99),
    baselineP99Ms: percentile(b.latencies, 99),
    details: {
      baselineP50Ms: percentile(b.latencies, 50),
      maxMs: percentile(o.latencies, 100),
      deliveries: o.latencies.length,
    },
    note:
      `${subscribers.toLocaleString('en')} subscribers (${QUERIES.length} queries × ADMIN/ANALYST) over ` +
      `${CLIENT_PROCESSES} client processes, ${where}; ${EVENTS} segment changes ${PACING_MS} ms apart ` +
      `under ${LOAD_PER_SECOND} other mutations/s; latency from each write to each receipt`,
  };
}

export async function fanoutScenario(ctx: BenchContext): Promise<{ fanout: Scenario; fanoutCrossInstance: Scenario }> {
  const subscribers = ctx.size({ smoke: 200, quick: 1_000, full: 5_000 });
  const tokens = { ADMIN: ctx.token, ANALYST: await ctx.tokenFor('ANALYST') };
  const groups = QUERIES.flatMap((q) =>
    (['ADMIN', 'ANALYST'] as const).map((role) => ({ ...q, role, token: tokens[role] })),
  );
  // Each client process holds every group: the groups are interleaved, the processes take shares.
  const groupOfEach = Array.from({ length: subscribers }, (_, i) => i % groups.length);

  const sameInstance = await measureOurs(ctx, ctx.apiUrl.replace(/^http/, 'ws'), groups, groupOfEach, 'FANOUT');
  const sameBaseline = await measureBaseline(sameInstance.receipts, groupOfEach, 'RAWOUT');

  const second = await startSecondInstance(ctx);
  let crossInstance: Timed;
  try {
    crossInstance = await measureOurs(ctx, second.url.replace(/^http/, 'ws'), groups, groupOfEach, 'FANCROSS');
  } finally {
    await second.stop();
  }
  const crossBaseline = await measureBaseline(crossInstance.receipts, groupOfEach, 'RAWCROSS');
  return {
    fanout: scenarioOf(sameInstance, sameBaseline, subscribers, 'one instance'),
    fanoutCrossInstance: scenarioOf(
      crossInstance,
      crossBaseline,
      subscribers,
      'written through one instance, delivered by a second process',
    ),
  };
}
