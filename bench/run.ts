/**
 * `npm run bench` (add `-- --quick` for a short run, `--only=http,read` for some scenarios,
 * `--check` to exit 1 when a target is missed, `--smoke` for the smallest run, which ends
 * `npm test`). Each scenario is measured beside a baseline in
 * the same run on the same machine and database and reported as a ratio where higher is better.
 *
 * The API runs as in production: NODE_ENV=production, logging at info (to a file), the rate
 * limiter and the default journeys on. Only the limits a single load generator would trip
 * are raised (the operation budget per identity, sockets per user and address). Every timed
 * side has a warm-up, starts with the other side drained and our own background work settled.
 *
 * A full run writes bench/results.json (committed) and regenerates the figures in
 * bench/RESULTS.md and README.md; a quick run writes bench/results-quick.json (ignored).
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { currentSequence } from '../src/db/counters.js';
import { startEmbeddedDbIfNeeded } from '../src/db/embedded.js';
import { FERRETDB_VERSION } from '../src/db/ferretdb/build.js';
import { EVENT_SEQUENCE } from '../src/events/model.js';
import { startServer } from '../src/app/server.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger, logDestination } from '../src/shared/logger.js';
import { projectRoot } from '../src/shared/paths.js';
import type { BenchContext, Role, Scenario } from './context.js';
import type { LoadOptions } from './lib/load.js';
import { graphqlRequest } from './lib/graphql-client.js';
import { renderResults } from './lib/report.js';

const BENCH_ADMIN = { email: 'bench@pulse.test', password: 'bench password 0123' };
/** `--smoke`: the smallest sizes and windows, for `npm test` (the shape is checked, not the figures). */
const isSmoke = process.argv.includes('--smoke');
const isQuick = isSmoke || process.argv.includes('--quick');
const isCheck = process.argv.includes('--check');
/** `--only=read,campaign` runs just those scenarios. */
const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const wants = (name: string) => !onlyArg || onlyArg.split(',').includes(name);

const LOAD: LoadOptions = {
  durationS: isSmoke ? 1 : isQuick ? 5 : 15,
  warmUpS: isQuick ? 1 : 3,
  connections: 20,
  minRequests: 50,
};

type Run = (ctx: BenchContext) => Promise<Record<string, Scenario>>;
/** In the order they run; loaded only when wanted. Campaign is last: its customers stay. */
const SCENARIOS: Array<{ names: string[]; load: () => Promise<Run> }> = [
  { names: ['http'], load: async () => (ctx) => import('./scenarios/http.js').then((m) => m.httpScenario(ctx, LOAD)) },
  { names: ['read'], load: async () => (ctx) => import('./scenarios/read.js').then((m) => m.readScenario(ctx, LOAD)) },
  { names: ['ingest'], load: async () => (await import('./scenarios/ingest.js')).ingestScenario },
  {
    names: ['fanout', 'fanoutCrossInstance'],
    load: async () => (await import('./scenarios/fanout.js')).fanoutScenario,
  },
  { names: ['memory'], load: async () => (await import('./scenarios/memory.js')).memoryScenario },
  { names: ['sweep'], load: async () => (await import('./scenarios/sweep.js')).sweepScenario },
  { names: ['campaign'], load: async () => (await import('./scenarios/campaign.js')).campaignScenario },
];

/** What each scenario must show (issue: honest benchmarks); `--check` fails the run when one is missed. */
export const TARGETS: Record<string, { text: string; isMet(s: Scenario): boolean }> = {
  http: {
    text: '≥ 0.15 of bare, above minimal Apollo',
    isMet: (s) => s.ratio >= 0.15 && Number(s.details?.oursOverMinimalApollo) > 1,
  },
  read: { text: '≥ 0.5', isMet: (s) => s.ratio >= 0.5 },
  ingest: { text: '≥ 0.5', isMet: (s) => s.ratio >= 0.5 },
  fanout: { text: '≥ 0.5, p99 ≤ 250 ms', isMet: (s) => s.ratio >= 0.5 && (s.p99Ms ?? Infinity) <= 250 },
  fanoutCrossInstance: { text: '≥ 0.5, p99 ≤ 250 ms', isMet: (s) => s.ratio >= 0.5 && (s.p99Ms ?? Infinity) <= 250 },
  memory: { text: '≤ 50 KB per idle subscriber', isMet: (s) => (s.bytesPerSubscriber ?? Infinity) <= 50 * 1024 },
  sweep: { text: '≥ 20× the naive loop', isMet: (s) => s.ratio >= 20 },
  campaign: { text: 'end to end ≥ 0.3', isMet: (s) => s.ratio >= 0.3 },
};

/** Checked on every run: a scenario that breaks or stops reporting fails the run (not its figures). */
function resultsProblem(results: unknown): string | null {
  const figure = z.number().finite();
  const scenario = z.object({ ours: figure, baseline: figure, unit: z.string().min(1), ratio: figure });
  const parsed = z
    .object({ machine: z.string(), node: z.string(), engine: z.string(), scenarios: z.record(z.string(), scenario) })
    .safeParse(results);
  if (!parsed.success) return parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  const missing = SCENARIOS.flatMap((s) => s.names).filter((n) => wants(n) && !(n in parsed.data.scenarios));
  return missing.length ? `no figures for ${missing.join(', ')}` : null;
}

async function login(url: string, email: string, password: string): Promise<string> {
  const data = await graphqlRequest<{ login: { token: string | null } }>(
    url,
    '',
    'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
    { e: email, p: password },
  );
  if (!data.login.token) throw new Error(`bench sign-in failed for ${email}`);
  return data.login.token;
}

async function main(): Promise<void> {
  const dataDir = path.join(os.tmpdir(), `pulse-crm-bench-${process.pid}`);
  const logFile = path.join(os.tmpdir(), `pulse-crm-bench-${process.pid}.log`);
  // Removed by the `finally` below, and on an abrupt end (a signal, a failure) as we exit.
  process.once('exit', () => {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(logFile, { force: true });
  });
  const config = loadConfig({
    ...process.env,
    NODE_ENV: 'production',
    JWT_SECRET: randomBytes(32).toString('base64url'),
    METRICS_TOKEN: randomBytes(16).toString('base64url'),
    // One load generator is one identity: the limiter stays on (its store is measured), with a
    // budget it does not reach.
    RATE_LIMIT_PER_MINUTE: '100000000',
    // The fan-out scenarios open thousands of sockets as a few users from one address.
    WS_MAX_SOCKETS_PER_USER: '1000000',
    WS_MAX_SOCKETS_PER_ADDRESS: '1000000',
    CRM_ADMIN_EMAIL: BENCH_ADMIN.email,
    CRM_ADMIN_PASSWORD: BENCH_ADMIN.password,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    CRM_DATA_DIR: dataDir,
  });
  // Production logs go to stdout; here to a file, through the same kind of stream.
  const logger = createLogger('info', logDestination(logFile));
  const database = await startEmbeddedDbIfNeeded(config, logger);
  const dbName = 'pulse_crm_bench';
  await connectDatabase({ uri: database.uri, dbName, maxPoolSize: config.mongodbMaxPoolSize });
  const server = await startServer({ config, logger, clock: systemClock, databaseKind: database.kind });
  const apiUrl = `http://127.0.0.1:${server.port}/graphql`;
  const token = await login(apiUrl, BENCH_ADMIN.email, BENCH_ADMIN.password);
  const roleTokens = new Map<Role, string>();
  const ctx: BenchContext = {
    isQuick,
    size: (sizes) => (isSmoke ? sizes.smoke : isQuick ? sizes.quick : sizes.full),
    config,
    apiUrl,
    token,
    server,
    domain: server.domain,
    databaseUri: database.uri,
    dbName,
    graphql: (query, variables, asToken = token) => graphqlRequest(apiUrl, asToken, query, variables),
    async tokenFor(role) {
      const known = roleTokens.get(role);
      if (known) return known;
      const email = `bench-${role.toLowerCase()}@pulse.test`;
      const password = `bench password for ${role}`;
      const created = await ctx.graphql<{ createUser: { userErrors: unknown[] } }>(
        'mutation($input: CreateUserInput!) { createUser(input: $input) { userErrors { code } } }',
        { input: { email, name: `Bench ${role}`, role, password } },
      );
      if (created.createUser.userErrors.length) throw new Error(`could not create a ${role} user`);
      const roleToken = await login(apiUrl, email, password);
      roleTokens.set(role, roleToken);
      return roleToken;
    },
    async settle() {
      for (;;) {
        const end = await currentSequence(EVENT_SEQUENCE);
        await Promise.all(server.domain.consumers.map((c) => c.whenCaughtUp(end)));
        await server.jobs.get('automation-steps')?.runNow();
        await server.jobs.get('webhook-deliveries')?.runNow();
        await server.domain.campaignRunner.runNow();
        if ((await currentSequence(EVENT_SEQUENCE)) === end) return;
      }
    },
    async drained() {
      while (server.runtime.inFlightRequests > 0) await new Promise((r) => setTimeout(r, 20));
    },
  };
  try {
    const scenarios: Record<string, Scenario> = {};
    for (const entry of SCENARIOS) {
      if (!entry.names.some(wants)) continue;
      await ctx.drained();
      await ctx.settle();
      const started = performance.now();
      Object.assign(scenarios, await (await entry.load())(ctx));
      console.error(`bench: ${entry.names.join(', ')} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    for (const name of Object.keys(scenarios)) if (!wants(name)) delete scenarios[name];
    const results = {
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      node: process.version,
      engine: database.kind === 'embedded' ? `FerretDB ${FERRETDB_VERSION} (SQLite, patched)` : 'MongoDB (MONGODB_URI)',
      mode: isSmoke ? 'smoke' : isQuick ? 'quick' : 'full',
      date: new Date().toISOString(),
      commit: readCommit(),
      load: LOAD,
      scenarios,
    };
    const problem = resultsProblem(results);
    if (problem) throw new Error(`bench results would not have their documented shape: ${problem}`);
    const file = path.join(projectRoot, 'bench', isQuick || onlyArg ? 'results-quick.json' : 'results.json');
    await writeFile(file, `${JSON.stringify(results, null, 2)}\n`);
    const report = renderResults(results, TARGETS);
    console.log(report.text);
    if (!isQuick && !onlyArg) await report.writeDocs();
    if (isCheck && report.missed.length) {
      console.error(`bench: targets missed: ${report.missed.join(', ')}`);
      process.exitCode = 1;
    }
  } finally {
    await server.stop();
    await disconnectDatabase();
    await database.engine?.stop();
    if (database.engine) await rm(database.engine.dataDir, { recursive: true, force: true });
    await rm(logFile, { force: true });
  }
}

/** The commit measured, marked when the work tree had changes. */
function readCommit(): string {
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: projectRoot, encoding: 'utf8' }).trim();
    return `${git('rev-parse', '--short=12', 'HEAD')}${git('status', '--porcelain', '--untracked-files=no') ? '+changes' : ''}`;
  } catch {
    return 'unknown';
  }
}

// A signal ends the run as a failure does, through `exit`, whose handlers stop the second
// instance (the engine follows us through its watchdog's pipe, forked clients through their channel).
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const)
  process.once(signal, () => process.exit(code));

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
