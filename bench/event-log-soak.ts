/**
 * `npm run bench:soak -- --api [--minutes 10] [--subscribers 1000] [--interactions-per-second 20]
 * [--sample-seconds 15] [--warm-up-seconds 30] [--out bench/soak-memory.json] [--heap-snapshots <dir>]`: the API's heap
 * and RSS over a long run with events flowing and idle subscribers connected (bench/lib/memory-soak.ts).
 *
 * `npm run bench:soak -- [--seconds 120] [--rate 200] [--retention-ms 10000]
 * [--prune-interval-ms 2000] [--backlog 50000]`: the event log under a steady stream of appends
 * with a short retention, on a fresh embedded engine. Appends run 10 at a time at `rate` events
 * per second (0: as fast as they go) with a payload the size of an INTERACTION_RECORDED
 * snapshot; a durable consumer handles each event (retention waits for it) and the retention
 * job runs every `prune-interval-ms`. Every 5 s it prints the events kept (a count of the
 * collection), the age of the oldest, how far the consumer is behind, the database file (SQLite
 * file, its WAL) and the pages in use (`dbStats`): all must stay bounded. Then, unless `--backlog 0`, it appends `backlog` events with nothing
 * pruning, lets them expire, and times the one run that removes them.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { ensureFerretDbBinary } from '../src/db/ferretdb/build.js';
import { startFerretDb } from '../src/db/ferretdb/engine.js';
import { Consumer, LogConsumer } from '../src/events/consumer.js';
import { EventLog } from '../src/events/log.js';
import { Event } from '../src/events/model.js';
import { oldestKeptEvent, pruneEvents, type EventPruneOutcome } from '../src/events/retention.js';
import { eventPersonalData } from '../src/modules/customers/erasure.js';
import { systemClock } from '../src/shared/clock.js';
import { startIntervalJob } from '../src/shared/interval-job.js';
import { createLogger } from '../src/shared/logger.js';
import { projectRoot } from '../src/shared/paths.js';
import { soakApiMemory } from './lib/memory-soak.js';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '120' },
    rate: { type: 'string', default: '200' },
    'retention-ms': { type: 'string', default: '10000' },
    'prune-interval-ms': { type: 'string', default: '2000' },
    backlog: { type: 'string', default: '50000' },
    api: { type: 'boolean', default: false },
    minutes: { type: 'string', default: '10' },
    subscribers: { type: 'string', default: '1000' },
    'interactions-per-second': { type: 'string', default: '20' },
    'sample-seconds': { type: 'string', default: '15' },
    'warm-up-seconds': { type: 'string', default: '30' },
    out: { type: 'string', default: path.join(projectRoot, 'bench', 'soak-memory.json') },
    'heap-snapshots': { type: 'string' },
  },
});
const seconds = Number(args.seconds);
const rate = Number(args.rate);
const retentionMs = Number(args['retention-ms']);
const pruneIntervalMs = Number(args['prune-interval-ms']);
const backlog = Number(args.backlog);
const DB = 'soak';
const APPENDERS = 10;
const SAMPLE_MS = 5_000;

/** About the size of a stored INTERACTION_RECORDED event: the interaction and a customer snapshot. */
function payload(n: number): never {
  return {
    interaction: { _id: `i:${n}`, type: 'PURCHASE', channel: 'WEB', amountMinor: 12_000, note: 'x'.repeat(200) },
    customer: { _id: `c:${n % 1_000}`, name: `Customer ${n % 1_000}`, email: `c${n}@example.com`, tags: ['a', 'b'] },
    padding: 'y'.repeat(500),
  } as never;
}

const mb = (bytes: number) => (bytes / 1_048_576).toFixed(1);
const sizeOf = (file: string) =>
  stat(file).then(
    (s) => s.size,
    () => 0,
  );

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-soak-'));
const engine = await startFerretDb({ binary: (await ensureFerretDbBinary()).path, dataDir });
await connectDatabase({ uri: engine.uri, dbName: DB, maxPoolSize: 20 });
const logger = createLogger('warn');
const log = new EventLog({ clock: systemClock, logger, personalData: eventPersonalData });
const consumer = new LogConsumer({ name: 'soak', events: log, logger, leaseMs: 15_000, handle: async () => {} });
const prunes: EventPruneOutcome[] = [];

async function sample(elapsedS: number, appended: number) {
  const [kept, oldest, handled, file, wal, stats] = await Promise.all([
    Event.collection.countDocuments({}),
    oldestKeptEvent(log.position),
    Consumer.findById('soak').lean(),
    sizeOf(path.join(dataDir, `${DB}.sqlite`)),
    sizeOf(path.join(dataDir, `${DB}.sqlite-wal`)),
    mongoose.connection.db!.command({ dbStats: 1 }),
  ]);
  const removed = prunes.reduce((sum, p) => sum + p.removed, 0);
  const oldestAgeS = oldest ? (Date.now() - oldest.at.getTime()) / 1000 : 0;
  const behind = log.position - (handled?.position ?? 0);
  const row = { elapsedS, appended, kept, oldestAgeS, behind, file, wal, inUse: Number(stats.totalSize), removed };
  console.log(
    `${String(elapsedS).padStart(4)} s  appended ${String(appended).padStart(7)}  kept ${String(kept).padStart(6)}  ` +
      `oldest ${oldestAgeS.toFixed(1).padStart(5)} s  consumer behind ${String(behind).padStart(5)}  ` +
      `file ${mb(file).padStart(6)} MB  wal ${mb(wal).padStart(5)} MB  in use ${mb(row.inUse).padStart(6)} MB  ` +
      `removed ${removed} in ${prunes.length} runs`,
  );
  return row;
}

/** Appends for `ms` at `rate` events/s (0: unthrottled), APPENDERS at a time; the number appended. */
async function appendFor(ms: number, onSample: (elapsedS: number, appended: number) => Promise<unknown>) {
  const started = performance.now();
  let appended = 0;
  let nextSample = SAMPLE_MS;
  const sampler = (async () => {
    while (performance.now() - started < ms) {
      await new Promise((r) => setTimeout(r, Math.max(0, started + nextSample - performance.now())));
      await onSample(nextSample / 1000, appended);
      nextSample += SAMPLE_MS;
    }
  })();
  await Promise.all(
    Array.from({ length: APPENDERS }, async () => {
      for (;;) {
        const elapsed = performance.now() - started;
        if (elapsed >= ms) return;
        if (rate > 0 && appended >= (rate * elapsed) / 1000) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        appended++;
        await log.append('INTERACTION_RECORDED', payload(appended));
      }
    }),
  );
  await sampler;
  return appended;
}

/** Appends at `rate` with the retention job running; prints a sample every 5 s, then a summary. */
async function soak() {
  const job = startIntervalJob(
    'prune-retention',
    pruneIntervalMs,
    async () => prunes.push(await pruneEvents({ events: log, retentionMs })),
    logger,
  );
  console.log(
    `soak: ${seconds} s at ${rate || 'unthrottled'} events/s, retention ${retentionMs} ms, pruned every ` +
      `${pruneIntervalMs} ms; data folder ${dataDir}`,
  );
  const rows: Array<Awaited<ReturnType<typeof sample>>> = [];
  const appended = await appendFor(seconds * 1000, async (s, n) => rows.push(await sample(s, n)));
  await job.stop();
  const runs = prunes.filter((p) => p.removed > 0);
  const removed = runs.reduce((sum, p) => sum + p.removed, 0);
  const perEventMs = runs.reduce((sum, p) => sum + p.ms, 0) / Math.max(1, removed);
  const late = rows.slice(Math.floor(rows.length / 2));
  const peak = (key: 'kept' | 'oldestAgeS' | 'behind' | 'file' | 'wal' | 'inUse', of = rows) =>
    Math.max(0, ...of.map((r) => r[key]));
  console.log(
    `\nsoak summary: ${appended} events appended in ${seconds} s (${Math.round(appended / seconds)}/s); ` +
      `kept at most ${peak('kept')} (second half: ${peak('kept', late)}), the oldest at most ` +
      `${peak('oldestAgeS').toFixed(1)} s old, the consumer at most ${peak('behind')} events behind; database file ` +
      `at most ${mb(peak('file'))} MB (second half: ${mb(peak('file', late))} MB), WAL at most ${mb(peak('wal'))} MB, ` +
      `pages in use at most ${mb(peak('inUse'))} MB; ${runs.length} pruning runs removed ${removed} events at ` +
      `${(perEventMs * 1000).toFixed(0)} µs per event (${(Math.max(0, ...runs.map((p) => p.ms)) / 1000).toFixed(2)} s the longest run)`,
  );
}

/** Appends `backlog` events with nothing pruning, lets them expire and times the one run that removes them. */
async function pruneBacklog() {
  const started = performance.now();
  for (let n = 0; n < backlog; n += 500)
    await log.appendMany(
      'INTERACTION_RECORDED',
      Array.from({ length: Math.min(500, backlog - n) }, (_, i) => payload(n + i)),
    );
  const appendedS = (performance.now() - started) / 1000;
  // The newest event stays (the log's end): one more after the backlog, then the window passes.
  await log.append('INTERACTION_RECORDED', payload(0));
  await consumer.whenCaughtUp();
  await new Promise((r) => setTimeout(r, retentionMs + 100));
  const run = await pruneEvents({ events: log, retentionMs });
  console.log(
    `backlog: ${backlog} events appended in ${appendedS.toFixed(1)} s; one run removed ${run.removed} (with what ` +
      `the soak left) in ${(run.ms / 1000).toFixed(2)} s: ${Math.round(run.removed / (run.ms / 1000))} events/s, ` +
      `${((run.ms / run.removed) * 500).toFixed(0)} ms per batch of 500`,
  );
  await sample(Math.round((performance.now() - started) / 1000), log.position);
}

try {
  if (args.api) {
    await soakApiMemory({
      uri: engine.uri,
      dbName: DB,
      minutes: Number(args.minutes),
      subscribers: Number(args.subscribers),
      interactionsPerSecond: Number(args['interactions-per-second']),
      sampleSeconds: Number(args['sample-seconds']),
      warmUpSeconds: Number(args['warm-up-seconds']),
      out: path.resolve(args.out),
      ...(args['heap-snapshots'] ? { heapSnapshots: path.resolve(args['heap-snapshots']) } : {}),
    });
  } else {
    await log.start();
    consumer.start();
    if (seconds > 0) await soak();
    if (backlog > 0) await pruneBacklog();
  }
} finally {
  await consumer.stop();
  await log.stop();
  await disconnectDatabase();
  await engine.stop();
  await rm(dataDir, { recursive: true, force: true });
}
