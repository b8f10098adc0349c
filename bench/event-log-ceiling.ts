/**
 * `npx tsx bench/event-log-ceiling.ts [events]`: how fast the event log takes appends and how
 * fast one tailer (one API process) makes them available, on the embedded engine. Appends run
 * 20 at a time, as concurrent requests would; the tailer reads event by event by `_id`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { ensureFerretDbBinary } from '../src/db/ferretdb/build.js';
import { startFerretDb } from '../src/db/ferretdb/engine.js';
import { eventPersonalData } from '../src/modules/customers/erasure.js';
import { EventLog } from '../src/events/log.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger } from '../src/shared/logger.js';

const total = Number(process.argv[2] ?? 3_000);
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-eventlog-'));
const engine = await startFerretDb({ binary: (await ensureFerretDbBinary()).path, dataDir });
await connectDatabase({ uri: engine.uri, dbName: 'eventlog', maxPoolSize: 20 });
const log = new EventLog({ clock: systemClock, logger: createLogger('warn'), personalData: eventPersonalData });
try {
  await log.start();
  const startPosition = log.position;
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < total) {
        next++;
        // A payload of a realistic size: the log stores it and never reads it.
        await log.append('INTERACTION_RECORDED', { n: next, note: 'x'.repeat(200) } as never);
      }
    }),
  );
  const appendedMs = performance.now() - started;
  while (log.position < startPosition + total) await new Promise((r) => setTimeout(r, 5));
  const tailedMs = performance.now() - started;
  console.log(
    `${total} events: appended in ${(appendedMs / 1000).toFixed(2)} s (${Math.round(total / (appendedMs / 1000))}/s), all available to the tailer after ${(tailedMs / 1000).toFixed(2)} s (${Math.round(total / (tailedMs / 1000))}/s)`,
  );
} finally {
  await log.stop();
  await disconnectDatabase();
  await engine.stop();
  await rm(dataDir, { recursive: true, force: true });
}
