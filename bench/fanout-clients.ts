/**
 * The subscriber side of the fan-out scenario, in a process of its own (the scenario starts
 * several). Told over IPC what to open, it opens one socket per subscriber, OPENING_AT_ONCE at a
 * time: a graphql-transport-ws subscription of its group's query with its group's token, or,
 * for the raw baseline, a plain WebSocket to `<url>?group=<g>`. Every message names an event (`<TAG>-<k>` in the customer's
 * name); this process timestamps each receipt and reports, per round, when every subscriber has
 * received all of that round's events.
 *
 * parent → child                              child → parent
 *   { open: ClientsPlan }                        { live: true } every subscriber got a first message
 *   { expect: { tag, count } }                   { expecting: tag } then
 *                                                { round: RoundReport } every subscriber got all
 *   { report: tag } (at a deadline)              { round: RoundReport } what came so far
 *   { close: true }                              { error } a subscription failed
 */
import type { ExecutionResult } from 'graphql-ws';
import WebSocket from 'ws';

export type SubscriberGroup = { query: string; variables?: Record<string, unknown>; token: string };
export type ClientsPlan = { mode: 'graphql' | 'raw'; url: string; groups: SubscriberGroup[]; groupOfEach: number[] };
export type RoundReport = {
  tag: string;
  /** receivedAt[k]: the receipt times (ms since the epoch, fractional) of event k, one per subscriber. */
  receivedAt: number[][];
  /** The first result of each group for each event: what the raw baseline sends, byte for byte. */
  samples: Array<Array<ExecutionResult | null>>;
  /** Receipts that came after a later event of the same round on the same subscriber. */
  outOfOrder: number;
  duplicates: number;
};
type ChildMessage = { open?: ClientsPlan; expect?: { tag: string; count: number }; report?: string; close?: true };

type Subscriber = { group: number; hasReceived: boolean; lastIndex: number; seen: Set<number> };
type Round = RoundReport & { count: number; complete: number };

const OPENING_AT_ONCE = 100;

/** The wall clock with sub-millisecond resolution, comparable across processes. */
const now = () => performance.timeOrigin + performance.now();

const subscribers: Subscriber[] = [];
const closers: Array<() => void> = [];
let live = 0;
let isClosing = false;
let round: Round | undefined;

function send(message: unknown): void {
  process.send?.(message);
}

function nameOf(result: ExecutionResult | undefined): string {
  const change = (result?.data as { segmentChanged?: { customer?: { name?: string } } } | undefined)?.segmentChanged;
  return change?.customer?.name ?? '';
}

function onMessage(subscriber: Subscriber, result: ExecutionResult | undefined): void {
  const at = now();
  if (!subscriber.hasReceived) {
    subscriber.hasReceived = true;
    if (++live === subscribers.length) send({ live: true });
  }
  const current = round;
  if (!current) return;
  const name = nameOf(result);
  if (!name.startsWith(`${current.tag}-`)) return;
  const index = Number(name.slice(current.tag.length + 1));
  if (!Number.isInteger(index) || index < 0 || index >= current.count) return;
  if (subscriber.seen.has(index)) {
    current.duplicates++;
    return;
  }
  if (index < subscriber.lastIndex) current.outOfOrder++;
  subscriber.lastIndex = Math.max(subscriber.lastIndex, index);
  subscriber.seen.add(index);
  current.receivedAt[index]!.push(at);
  current.samples[subscriber.group]![index] ??= result ?? null;
  if (subscriber.seen.size === current.count && ++current.complete === subscribers.length) report(current);
}

function report(r: Round): void {
  const { tag, receivedAt, samples, outOfOrder, duplicates } = r;
  send({ round: { tag, receivedAt, samples, outOfOrder, duplicates } satisfies RoundReport });
  round = undefined;
}

/**
 * The graphql-transport-ws protocol as a load client speaks it: init, one subscribe, then one
 * JSON.parse per message, the same work per message as the raw baseline's client. (The
 * graphql-ws client library does more per message; on the machine the server runs on, that
 * would be counted against the server.)
 */
function openGraphql(plan: ClientsPlan, subscriber: Subscriber): Promise<void> {
  const group = plan.groups[subscriber.group]!;
  const socket = new WebSocket(plan.url, 'graphql-transport-ws');
  const write = (message: unknown) => socket.send(JSON.stringify(message));
  closers.push(() => socket.close(1000));
  return new Promise((acknowledged) => {
    socket.on('open', () => write({ type: 'connection_init', payload: { authorization: `Bearer ${group.token}` } }));
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; payload?: unknown };
      if (message.type === 'next') onMessage(subscriber, message.payload as ExecutionResult);
      else if (message.type === 'connection_ack') {
        write({ id: '1', type: 'subscribe', payload: { query: group.query, variables: group.variables } });
        acknowledged();
      } else if (message.type === 'ping') write({ type: 'pong' });
      else if (message.type === 'error') fail(`subscription failed: ${JSON.stringify(message.payload)}`);
    });
    socket.on('close', (code, reason) => fail(`socket closed: ${code} ${String(reason)}`));
    socket.on('error', (err) => fail(`socket failed: ${err.message}`));
  });
}

function openRaw(plan: ClientsPlan, subscriber: Subscriber): Promise<void> {
  const socket = new WebSocket(`${plan.url}?group=${subscriber.group}`);
  closers.push(() => socket.close());
  return new Promise((opened) => {
    socket.on('open', () => opened());
    // A client of a plain broadcast still parses what it receives.
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { payload?: ExecutionResult };
      onMessage(subscriber, message.payload);
    });
    socket.on('close', (code, reason) => fail(`raw socket closed: ${code} ${String(reason)}`));
    socket.on('error', (err) => fail(`raw socket failed: ${err.message}`));
  });
}

/** A socket's failure, reported unless this process is closing them all. */
function fail(why: string): void {
  if (!isClosing) send({ error: why });
}

/** Clients connect OPENING_AT_ONCE at a time, as users arrive: not all in one instant. */
async function open(plan: ClientsPlan): Promise<void> {
  const pending = plan.groupOfEach.map((group) => ({
    group,
    hasReceived: false,
    lastIndex: -1,
    seen: new Set<number>(),
  }));
  subscribers.push(...pending);
  const openNext = async (): Promise<void> => {
    for (let subscriber = pending.shift(); subscriber; subscriber = pending.shift())
      await (plan.mode === 'raw' ? openRaw(plan, subscriber) : openGraphql(plan, subscriber));
  };
  await Promise.all(Array.from({ length: OPENING_AT_ONCE }, openNext));
}

function expect(tag: string, count: number, groups: number): void {
  for (const s of subscribers) {
    s.lastIndex = -1;
    s.seen.clear();
  }
  round = {
    tag,
    count,
    complete: 0,
    receivedAt: Array.from({ length: count }, () => []),
    samples: Array.from({ length: groups }, () => Array.from({ length: count }, () => null)),
    outOfOrder: 0,
    duplicates: 0,
  };
}

let groupCount = 0;
process.on('message', (m: ChildMessage) => {
  if (m.open) {
    groupCount = m.open.groups.length;
    void open(m.open);
  } else if (m.expect) {
    expect(m.expect.tag, m.expect.count, groupCount);
    send({ expecting: m.expect.tag });
  } else if (m.report !== undefined) {
    if (round?.tag === m.report) report(round);
  } else if (m.close) {
    isClosing = true;
    for (const close of closers) close();
    setTimeout(() => process.exit(0), 500);
  }
});
process.on('disconnect', () => process.exit(0));
