/**
 * fan-out: EVENTS segment changes, one every PACING_MS, delivered to `subscribers` subscribers
 * (graphql-transport-ws) while a steady load of other mutations runs (bench/fanout-writes.ts).
 * Subscribers are spread over CLIENT_PROCESSES processes and six groups: three queries with
 * different selections and filters, each as ADMIN and as ANALYST (who sees e-mail and phone
 * masked, checked here).
 *   fanout               written and delivered by the bench's API instance;
 *   fanoutCrossInstance  written through the bench's instance, delivered by a second API
 *                        process on the same database (its tailer reads the log).
 * Latency runs from each event's write (the mutation's start) to each receipt; p50/p99 are over
 * every delivery of every event. Throughput, the headline, is deliveries per second of delivery
 * time: the union, over the events, of the time from an event's write to its last receipt (the
 * pause between events counts for neither side; each side's write counts for it).
 * `fanOutOnlyRatio` compares the fan-out alone: deliveries per second from each event's first
 * receipt to its last.
 *
 * Baseline: the least a competent engineer's system does for the same event — the raw driver
 * writes the customer (the document our API stored for that event, with its own _id, code, name
 * and e-mail, into the same collection with the same indexes), then a plain `ws` server in this
 * process sends the same payload (the bytes each group received from us), serialised once per
 * group, to every socket of the group. The same number of sockets over the same client
 * processes, at the same pacing, without the background write load (which only makes it
 * faster). Latency there runs from the start of the write to each receipt.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ExecutionResult } from 'graphql-ws';
import { Types } from 'mongoose';
import { WebSocketServer, type WebSocket } from 'ws';
import { Customer, type CustomerDoc } from '../../src/modules/customers/model.js';
import type { BenchContext, Scenario } from '../context.js';
import type { SubscriberGroup } from '../fanout-clients.js';
import { SubscriberProcesses, type Receipts } from '../fanout-client-processes.js';
import { createLoadCustomers, LOAD_PER_SECOND, startWriteLoad, writeMeasuredEvent } from '../fanout-writes.js';
import { startSecondInstance } from '../second-instance.js';

const EVENTS = 20;
const WARMUP_EVENTS = 5;
/**
 * Two events a second: at 5,000 subscribers that is 10,000 deliveries a second, within what one
 * instance delivers on the 2-core bench machine (about 25,000), so a delivery's latency is
 * measured rather than a queue's growth.
 */
const PACING_MS = 500;
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

type Timed = { startedAt: number[]; receipts: Receipts; loadPerSecond?: number };

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
    await send(k);
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
    await clients.expect(`${label}M`, EVENTS, EVENTS * PACING_MS + DELIVERY_DEADLINE_MS);
    const startedAt = await paced(EVENTS, write(`${label}M`));
    const receipts = await clients.receipts(`${label}M`);
    const loadDone = await load.stop();
    if (loadDone.failed) throw new Error(`fan-out load: ${loadDone.failed} of ${loadDone.writes} writes failed`);
    assertComplete(label, receipts);
    assertMasking(groups, receipts);
    return { startedAt, receipts, loadPerSecond: loadDone.perSecond };
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

/**
 * The baseline's write: `name`'s customer as our API stored the template, under its own _id,
 * code and e-mail. Returns the ids written, for the clean-up.
 */
async function rawCustomerWriter(template: CustomerDoc) {
  const written: Types.ObjectId[] = [];
  let serial = 0;
  const write = async (name: string) => {
    const _id = new Types.ObjectId();
    serial++;
    await Customer.collection.insertOne({
      ...template,
      _id,
      code: `RAW${String(serial).padStart(6, '0')}-${_id.toHexString()}`,
      name,
      nameLower: name.toLowerCase(),
      email: `${name.toLowerCase()}.${_id.toHexString()}@raw.test`,
    });
    written.push(_id);
  };
  const remove = () => Customer.collection.deleteMany({ _id: { $in: written } });
  return { write, remove };
}

async function measureBaseline(
  ours: Receipts,
  template: CustomerDoc,
  groupOfEach: number[],
  label: string,
): Promise<Timed> {
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
  const customers = await rawCustomerWriter(template);
  // The write, then one id for a group's payload: serialised once, the same bytes to every socket.
  const writeAndBroadcast = (tag: string) => async (k: number) => {
    await customers.write(`${tag}-${k}`);
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
    await paced(WARMUP_EVENTS, writeAndBroadcast(`${label}w`));
    assertComplete(`${label} baseline warm-up`, await clients.receipts(`${label}w`));
    await clients.expect(`${label}m`, EVENTS, EVENTS * PACING_MS + DELIVERY_DEADLINE_MS);
    const startedAt = await paced(EVENTS, writeAndBroadcast(`${label}m`));
    const receipts = await clients.receipts(`${label}m`);
    assertComplete(`${label} baseline`, receipts);
    return { startedAt, receipts };
  } finally {
    await clients.close();
    wss.close();
    server.close();
    await customers.remove();
  }
}

function percentile(sorted: number[], p: number): number {
  return +sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!.toFixed(1);
}

const median = (values: number[]) =>
  percentile(
    [...values].sort((x, y) => x - y),
    50,
  );

/**
 * Every delivery's latency (sorted); deliveries per second of delivery time (each event from
 * its write to its last receipt, overlaps counted once); and the fan-out alone: deliveries per
 * second from each event's first receipt to its last.
 */
function figures({ startedAt, receipts }: Timed) {
  const latencies = receipts.receivedAt.flatMap((times, k) => times.map((t) => t - startedAt[k]!));
  latencies.sort((a, b) => a - b);
  const firsts = receipts.receivedAt.map((times) => Math.min(...times));
  const lasts = receipts.receivedAt.map((times) => Math.max(...times));
  let busyMs = 0;
  let coveredUntil = -Infinity;
  startedAt.forEach((from, k) => {
    busyMs += Math.max(0, lasts[k]! - Math.max(from, coveredUntil));
    coveredUntil = Math.max(coveredUntil, lasts[k]!);
  });
  const spreads = lasts.map((last, k) => last - firsts[k]!);
  const spreadMs = spreads.reduce((sum, ms) => sum + ms, 0);
  return {
    latencies,
    perSecond: latencies.length / (busyMs / 1000),
    fanOutPerSecond: latencies.length / (spreadMs / 1000),
    medianFirstMs: median(firsts.map((first, k) => first - startedAt[k]!)),
    medianSpreadMs: median(spreads),
  };
}

function scenarioOf(ours: Timed, baseline: Timed, subscribers: number, where: string): Scenario {
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
      medianWriteToFirstReceiptMs: o.medianFirstMs,
      medianFirstToLastReceiptMs: o.medianSpreadMs,
      baselineMedianFirstToLastReceiptMs: b.medianSpreadMs,
      fanOutOnlyRatio: +(o.fanOutPerSecond / b.fanOutPerSecond).toFixed(3),
      loadMutationsPerSecond: ours.loadPerSecond ?? 0,
    },
    note:
      `${subscribers.toLocaleString('en')} subscribers (${QUERIES.length} queries × ADMIN/ANALYST) over ` +
      `${CLIENT_PROCESSES} client processes, ${where}; ${EVENTS} segment changes ${PACING_MS} ms apart ` +
      `under ${LOAD_PER_SECOND} other mutations/s; latency from each write to each receipt; baseline: the raw ` +
      `driver's insert of the same customer, then a plain ws broadcast`,
  };
}

export async function fanoutScenario(ctx: BenchContext): Promise<{ fanout: Scenario; fanoutCrossInstance: Scenario }> {
  const subscribers = ctx.isQuick ? 1_000 : 5_000;
  const tokens = { ADMIN: ctx.token, ANALYST: await ctx.tokenFor('ANALYST') };
  const groups = QUERIES.flatMap((q) =>
    (['ADMIN', 'ANALYST'] as const).map((role) => ({ ...q, role, token: tokens[role] })),
  );
  // Each client process holds every group: the groups are interleaved, the processes take shares.
  const groupOfEach = Array.from({ length: subscribers }, (_, i) => i % groups.length);

  const sameInstance = await measureOurs(ctx, ctx.apiUrl.replace(/^http/, 'ws'), groups, groupOfEach, 'FANOUT');
  // What our API stored for a measured event: the baseline writes the same document.
  const template = await Customer.findOne({ name: 'FANOUTM-0' }).lean<CustomerDoc>();
  if (!template) throw new Error('fan-out: the first measured customer is not stored');
  const sameBaseline = await measureBaseline(sameInstance.receipts, template, groupOfEach, 'RAWOUT');

  const second = await startSecondInstance(ctx);
  let crossInstance: Timed;
  try {
    crossInstance = await measureOurs(ctx, second.url.replace(/^http/, 'ws'), groups, groupOfEach, 'FANCROSS');
  } finally {
    await second.stop();
  }
  const crossBaseline = await measureBaseline(crossInstance.receipts, template, groupOfEach, 'RAWCROSS');
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
