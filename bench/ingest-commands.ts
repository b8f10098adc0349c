/**
 * `npx tsx bench/ingest-commands.ts [--background] [--batches N]`: where the time of a
 * 500-item `recordInteractions` goes, command by command, on a fresh embedded engine. The API
 * runs in this process (production config, logging at info to a file), over 5,000 customers
 * made for it; the batches go over HTTP one after another, each to customers not seen yet, with
 * the ingest scenario's batches (`apiInputsOf`). Printed: milliseconds per batch, the engine's and this
 * process's CPU time, and each command's count and time per batch, the slowest first. Without
 * `--background` the event-log consumers and the default journeys do not run, so what is left
 * is the write path alone; with it, their commands count too (they run beside the batches).
 * Reproduces the per-command figures of RESULTS.md's 2026-11-30 (late) entry.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { startServer } from '../src/app/server.js';
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { ensureFerretDbBinary } from '../src/db/ferretdb/build.js';
import { startFerretDb } from '../src/db/ferretdb/engine.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger, logDestination } from '../src/shared/logger.js';
import { graphqlRequest } from './lib/graphql-client.js';
import { insertCustomersWithInteractions } from './scenarios/data.js';
import { apiInputsOf, INGEST_BATCH, INGEST_CUSTOMERS, INGEST_MUTATION } from './scenarios/ingest.js';

const BATCH = INGEST_BATCH;
const CUSTOMERS = INGEST_CUSTOMERS;
const args = process.argv.slice(2);
const withBackground = args.includes('--background');
const batchesArg = args.indexOf('--batches');
// One batch warms up; each batch after it meets customers not seen yet.
const batches = Math.min(Number(batchesArg >= 0 ? args[batchesArg + 1] : 6), CUSTOMERS / BATCH - 1);
const admin = { email: 'ingest@pulse.test', password: 'correct horse battery staple' };

/** The engine's own process: the child of its watchdog shell that runs FerretDB (Linux `/proc`). */
function engineProcessOf(watchdogPid: number): number {
  const children = readFileSync(`/proc/${watchdogPid}/task/${watchdogPid}/children`, 'utf8').trim().split(/\s+/);
  const pid = children.map(Number).find((c) => readFileSync(`/proc/${c}/cmdline`, 'utf8').includes('--handler=sqlite'));
  if (!pid) throw new Error('the engine process was not found under its watchdog');
  return pid;
}

/** CPU milliseconds a process has used so far (Linux `/proc`, clock ticks of 10 ms). */
function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-ingestcmd-'));
const logFile = `${dataDir}.log`;
const engine = await startFerretDb({ binary: (await ensureFerretDbBinary()).path, dataDir });
let server: Awaited<ReturnType<typeof startServer>> | undefined;
try {
  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'production',
    JWT_SECRET: 'x'.repeat(40),
    CRM_ADMIN_EMAIL: admin.email,
    CRM_ADMIN_PASSWORD: admin.password,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    RATE_LIMIT_PER_MINUTE: '100000000',
    BACKGROUND_WORKERS: String(withBackground),
  });
  await connectDatabase({ uri: engine.uri, dbName: 'ingest_commands', maxPoolSize: 20, monitorCommands: true });
  const logger = createLogger('info', logDestination(logFile));
  server = await startServer({ config, logger, clock: systemClock, databaseKind: 'external' });
  const url = `http://127.0.0.1:${server.port}/graphql`;
  const login = await graphqlRequest<{ login: { token: string } }>(
    url,
    '',
    'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
    { e: admin.email, p: admin.password },
  );
  const customers = await insertCustomersWithInteractions(CUSTOMERS, 0, 'IC');

  const tally = new Map<string, { count: number; ms: number }>();
  const started = new Map<number, { at: number; key: string }>();
  let isCounting = false;
  const client = mongoose.connection.getClient();
  client.on('commandStarted', (e) => {
    if (isCounting)
      started.set(e.requestId, { at: performance.now(), key: `${e.commandName} ${String(e.command[e.commandName])}` });
  });
  client.on('commandSucceeded', (e) => {
    const s = started.get(e.requestId);
    if (!s) return;
    started.delete(e.requestId);
    const t = tally.get(s.key) ?? { count: 0, ms: 0 };
    t.count++;
    t.ms += performance.now() - s.at;
    tally.set(s.key, t);
  });

  const record = async (b: number) => {
    const data = await graphqlRequest<{ recordInteractions: { recordedCount: number } }>(
      url,
      login.login.token,
      INGEST_MUTATION,
      { inputs: apiInputsOf(customers, 'commands', b) },
    );
    if (data.recordInteractions.recordedCount !== BATCH) throw new Error(`batch ${b} was not recorded whole`);
  };
  await record(0);
  isCounting = true;
  const enginePid = engineProcessOf(engine.pid);
  const engineCpu = cpuMsOf(enginePid);
  const ownCpu = process.cpuUsage();
  const t0 = performance.now();
  for (let b = 1; b <= batches; b++) await record(b);
  const wallMs = performance.now() - t0;
  const own = process.cpuUsage(ownCpu);
  console.log(
    `${batches} batches of ${BATCH}, background work ${withBackground ? 'on' : 'off'}: ` +
      `${(wallMs / batches).toFixed(0)} ms per batch; CPU per batch: engine ${((cpuMsOf(enginePid) - engineCpu) / batches).toFixed(0)} ms, ` +
      `this process ${((own.user + own.system) / 1000 / batches).toFixed(0)} ms`,
  );
  console.log('commands per batch | ms per batch | command');
  for (const [key, t] of [...tally].sort((a, b) => b[1].ms - a[1].ms))
    console.log(
      `${(t.count / batches).toFixed(1).padStart(18)} | ${(t.ms / batches).toFixed(1).padStart(12)} | ${key}`,
    );
} finally {
  await server?.stop();
  await disconnectDatabase();
  await engine.stop();
  await rm(dataDir, { recursive: true, force: true });
  await rm(logFile, { force: true });
}
