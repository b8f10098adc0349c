/**
 * `npm run bench` (add `-- --quick` for a short run). Each scenario is measured beside a
 * baseline in the same run on the same machine and database, and reported as a ratio where
 * higher is better. Load comes from a separate process (autocannon's CLI).
 * Results are printed and written to bench/results.json.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { startEmbeddedDbIfNeeded } from '../src/db/embedded.js';
import { FERRETDB_VERSION } from '../src/db/ferretdb/build.js';
import { startServer } from '../src/app/server.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger } from '../src/shared/logger.js';
import { createDomain } from '../src/app/domain.js';
import { campaignScenario } from './scenarios/campaign.js';
import { sweepScenario } from './scenarios/sweep.js';
import { fanoutScenario } from './scenarios/fanout.js';
import { insertCustomersWithInteractions } from './scenarios/data.js';
import { READ_QUERY, seedReadData, startRawReadServer } from './scenarios/read.js';
import { Customer } from '../src/modules/customers/model.js';
import { Interaction } from '../src/modules/interactions/model.js';
import { toGlobalId } from '../src/shared/ids.js';
import { projectRoot } from '../src/shared/paths.js';

const execFileAsync = promisify(execFile);
const BENCH_ADMIN = { email: 'bench@pulse.test', password: 'bench password 0123' };
/** The bench admin's bearer token, sent with every request. */
let token = '';

async function signIn(apiUrl: string): Promise<string> {
  const res = await fetch(apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
      variables: { e: BENCH_ADMIN.email, p: BENCH_ADMIN.password },
    }),
  });
  const body = (await res.json()) as { data?: { login: { token: string | null } } };
  if (!body.data?.login.token) throw new Error(`bench sign-in failed: ${JSON.stringify(body)}`);
  return body.data.login.token;
}
/** One GraphQL request as the bench admin; throws on errors. */
async function graphqlAsBench<T>(apiUrl: string, query: string, variables?: Record<string, unknown>): Promise<T> {
  const res = await fetch(apiUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: T; errors?: unknown };
  if (body.errors || !body.data) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const isQuick = process.argv.includes('--quick');
/**
 * The documented shape of bench/results.json (README, issue 7): every scenario a ratio where
 * higher is better, fan-out with its latencies, memory with bytes per subscriber. Checked on
 * every run, so the CI smoke run (`npm test` ends with `npm run bench -- --quick`) fails when
 * a scenario breaks or stops reporting — never on the figures themselves.
 */
function resultsProblem(results: unknown): string | null {
  // Any finite number: a noisy figure (a negative RSS delta) is reported, never a failure.
  const figure = z.number().finite();
  const scenario = z.object({ ours: figure, baseline: figure, unit: z.string().min(1), ratio: figure });
  const all = {
    http: scenario,
    read: scenario,
    ingest: scenario,
    campaign: scenario,
    fanout: scenario.extend({ p50Ms: figure, p99Ms: figure }),
    memory: scenario.extend({ bytesPerSubscriber: figure }),
    sweep: scenario,
  };
  const wanted = Object.fromEntries(Object.entries(all).filter(([name]) => wants(name)));
  const parsed = z
    .object({ machine: z.string(), node: z.string(), engine: z.string(), scenarios: z.object(wanted) })
    .safeParse(results);
  return parsed.success ? null : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
}

/** `--only read,campaign` runs just those scenarios (results.json then holds only them). */
const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const wants = (name: string) => !onlyArg || onlyArg.split(',').includes(name);
const DURATION_S = isQuick ? 5 : 15;
/**
 * Each side runs for DURATION_S; a side that completes fewer than MIN_REQUESTS in that window
 * (a slow engine on a busy machine) runs again until MIN_REQUESTS have completed, however long
 * that takes. Either way its rate is completed requests over the time they took: a finite figure.
 */
const MIN_REQUESTS = 50;
const CONNECTIONS = 20;

type Scenario = {
  ours: number;
  baseline: number;
  unit: string;
  ratio: number;
  p50Ms?: number;
  p99Ms?: number;
  baselineP99Ms?: number;
  bytesPerSubscriber?: number;
  endToEnd?: number;
  endToEndRatio?: number;
  note?: string;
};

type AutocannonResult = {
  requests: { total: number };
  duration: number;
  latency: { p99: number };
  non2xx: number;
  errors: number;
};

/** Completed requests per second over the whole run. */
const rate = (r: AutocannonResult) => r.requests.total / r.duration;

async function load(url: string, body: string): Promise<AutocannonResult> {
  const windowed = await autocannon(url, body, ['-d', String(DURATION_S)]);
  if (windowed.requests.total >= MIN_REQUESTS) return windowed;
  return autocannon(url, body, ['-a', String(MIN_REQUESTS)]);
}

async function autocannon(url: string, body: string, stopAfter: string[]): Promise<AutocannonResult> {
  const { stdout } = await execFileAsync(
    path.join(projectRoot, 'node_modules', '.bin', 'autocannon'),
    [
      '-j',
      // However slow an answer, it is waited for (a timed-out request would be an error).
      '-t',
      '600',
      '-c',
      String(CONNECTIONS),
      ...stopAfter,
      '-m',
      'POST',
      '-H',
      'content-type=application/json',
      '-H',
      `authorization=Bearer ${token}`,
      '-b',
      body,
      url,
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  const result = JSON.parse(stdout) as AutocannonResult;
  if (result.non2xx || result.errors)
    throw new Error(`${url}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  if (!(result.requests.total > 0 && result.duration > 0))
    throw new Error(`${url}: no request completed (${JSON.stringify(result).slice(0, 300)})`);
  return result;
}

/**
 * http: the smallest GraphQL operation through the whole stack (Express, request id, logging
 * off, Apollo parse/validate/execute, metrics) against a bare node:http handler returning the
 * same JSON: what the HTTP + GraphQL layers cost per request.
 */
async function httpScenario(apiUrl: string): Promise<Scenario> {
  const payload = JSON.stringify({ data: { __typename: 'Query' } });
  const floor = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(payload));
  });
  await new Promise<void>((r) => floor.listen(0, '127.0.0.1', () => r()));
  const floorUrl = `http://127.0.0.1:${(floor.address() as AddressInfo).port}/graphql`;
  const body = JSON.stringify({ query: '{ __typename }' });
  const result = await compareLoads(apiUrl, floorUrl, body);
  floor.close();
  return result;
}

/** The same request body against the baseline first, then against ours; req/s and p99. */
async function compareLoads(oursUrl: string, baselineUrl: string, body: string): Promise<Scenario> {
  const baseline = await load(baselineUrl, body);
  const ours = await load(oursUrl, body);
  return {
    ours: Math.round(rate(ours)),
    baseline: Math.round(rate(baseline)),
    unit: 'req/s',
    ratio: +(rate(ours) / rate(baseline)).toFixed(3),
    p99Ms: ours.latency.p99,
    baselineP99Ms: baseline.latency.p99,
  };
}

/**
 * read: a page of 20 customers with 5 interactions each, through GraphQL, against the raw
 * driver doing the same two reads behind a bare node:http handler.
 */
async function readScenario(apiUrl: string, currency: string, customers: number): Promise<Scenario> {
  await seedReadData(customers);
  const raw = await startRawReadServer(currency);
  const body = JSON.stringify({ query: READ_QUERY });
  const result = await compareLoads(apiUrl, raw.url, body);
  raw.close();
  return { ...result, note: `${customers.toLocaleString('en')} customers with 5 interactions each` };
}

/**
 * ingest: recordInteractions in batches of 500 (purchases and inquiries over 500 customers)
 * against the raw driver's insertMany of the same interaction documents plus one bulkWrite of
 * the customers' $inc. The batches are sent one after another over HTTP from this process.
 */
async function ingestScenario(apiUrl: string, batches: number): Promise<Scenario> {
  const customerIds = await insertCustomersWithInteractions(500, 0, 'G');
  const globalIds = customerIds.map((id) => toGlobalId('Customer', String(id)));
  const batch = (b: number) =>
    Array.from({ length: 500 }, (_, i) => ({
      customerId: globalIds[i]!,
      type: i % 3 === 0 ? 'PURCHASE' : 'INQUIRY',
      channel: 'WEB',
      ...(i % 3 === 0 ? { amount: '1000' } : {}),
      externalId: `bench-${b}-${i}`,
    }));
  const mutation =
    'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount } }';
  let started = performance.now();
  for (let b = 0; b < batches; b++) {
    const res = await fetch(apiUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: mutation, variables: { inputs: batch(b) } }),
    });
    const json = (await res.json()) as { data?: { recordInteractions: { recordedCount: number } } };
    if (json.data?.recordInteractions.recordedCount !== 500)
      throw new Error(`ingest batch ${b}: ${JSON.stringify(json).slice(0, 300)}`);
  }
  const oursRate = (batches * 500) / ((performance.now() - started) / 1000);

  started = performance.now();
  for (let b = 0; b < batches; b++) {
    const docs = Array.from({ length: 500 }, (_, i) => ({
      _id: `raw-${b}-${i}`,
      customerId: customerIds[i]!,
      type: i % 3 === 0 ? 'PURCHASE' : 'INQUIRY',
      channel: 'WEB',
      occurredAt: new Date(),
      recordedAt: new Date(),
      ...(i % 3 === 0 ? { amountMinor: 1000, currency: 'KRW' } : {}),
    }));
    await Interaction.collection.insertMany(docs as never[]);
    await Customer.collection.bulkWrite(
      customerIds.map((_id, i) => ({
        updateOne: {
          filter: { _id },
          update: {
            $inc: { interactionCount: 1, ...(i % 3 === 0 ? { purchaseCount: 1, totalPurchasesMinor: 1000 } : {}) },
            $max: { lastInteractionAt: new Date() },
          },
        },
      })),
      { ordered: false },
    );
  }
  const rawRate = (batches * 500) / ((performance.now() - started) / 1000);
  return {
    ours: Math.round(oursRate),
    baseline: Math.round(rawRate),
    unit: 'interactions/s',
    ratio: +(oursRate / rawRate).toFixed(3),
    note: `${batches} batches of 500 over 500 customers`,
  };
}

async function main(): Promise<void> {
  const config = loadConfig({
    ...process.env,
    // The load generator is one address: the rate limit would measure itself.
    RATE_LIMIT_PER_MINUTE: '100000000',
    // The fan-out scenario opens thousands of sockets as one user from one address.
    WS_MAX_SOCKETS_PER_USER: '1000000',
    WS_MAX_SOCKETS_PER_ADDRESS: '1000000',
    // Each scenario measures its own path; the default journeys would add their work (welcome
    // messages, tasks) to whatever the scenario's events match, in the middle of a baseline.
    AUTOMATION_DEFAULT_JOURNEYS: 'false',
    CRM_ADMIN_EMAIL: BENCH_ADMIN.email,
    CRM_ADMIN_PASSWORD: BENCH_ADMIN.password,
    JWT_SECRET: randomBytes(32).toString('base64url'),
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'silent',
    CRM_DATA_DIR: path.join(os.tmpdir(), `pulse-crm-bench-${process.pid}`),
  });
  const logger = createLogger('silent');
  const database = await startEmbeddedDbIfNeeded(config, logger);
  await connectDatabase({ uri: database.uri, dbName: 'pulse_crm_bench', maxPoolSize: config.mongodbMaxPoolSize });
  const server = await startServer({ config, logger, clock: systemClock, databaseKind: database.kind });
  const apiUrl = `http://127.0.0.1:${server.port}/graphql`;
  token = await signIn(apiUrl);
  try {
    const scenarios: Record<string, Scenario> = {};
    // A load generator stops sending at its deadline, but requests it left queued keep the
    // server and the engine busy: each scenario starts once they are done.
    const drained = async () => {
      while (server.runtime.inFlightRequests > 0) await new Promise((r) => setTimeout(r, 100));
    };
    if (wants('http')) scenarios.http = await httpScenario(apiUrl);
    await drained();
    if (wants('read')) scenarios.read = await readScenario(apiUrl, config.currency, isQuick ? 1_000 : 2_000);
    await drained();
    if (wants('ingest')) scenarios.ingest = await ingestScenario(apiUrl, isQuick ? 4 : 20);
    await drained();
    if (wants('fanout') || wants('memory'))
      Object.assign(scenarios, await fanoutScenario(apiUrl, token, isQuick ? 1_000 : 5_000));
    await drained();
    if (wants('sweep')) {
      const domain = createDomain({ config, clock: systemClock, logger });
      scenarios.sweep = await sweepScenario(
        domain,
        isQuick
          ? { total: 20_000, movers: 200, naiveSample: 1_000 }
          : { total: 100_000, movers: 1_000, naiveSample: 5_000 },
      );
    }
    // Last: its customers stay in the database (deleting 50,000 documents at once hits SQLite's
    // variable limit in the embedded engine), and only its own segment is read.
    await drained();
    if (wants('campaign'))
      scenarios.campaign = await campaignScenario(
        (query, variables) => graphqlAsBench(apiUrl, query, variables),
        isQuick ? 10_000 : 50_000,
        config.campaigns.batchSize,
      );
    const results = {
      machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
      node: process.version,
      engine: database.kind === 'embedded' ? `FerretDB ${FERRETDB_VERSION} (SQLite, patched)` : 'MongoDB (MONGODB_URI)',
      mode: isQuick ? 'quick' : 'full',
      scenarios,
    };
    const problem = resultsProblem(results);
    if (problem) throw new Error(`bench/results.json would not have its documented shape: ${problem}`);
    await writeFile(path.join(projectRoot, 'bench', 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
    console.log(
      `${results.machine}; Node ${results.node}; ${results.engine}; ${DURATION_S} s (at least ${MIN_REQUESTS} requests) per side, ${CONNECTIONS} connections`,
    );
    console.table(
      Object.fromEntries(
        Object.entries(scenarios).map(([k, sc]) => [
          k,
          {
            ours: `${sc.ours} ${sc.unit}`,
            baseline: `${sc.baseline} ${sc.unit}`,
            ratio: sc.ratio,
            ...(sc.p99Ms !== undefined ? { 'p99 ms (ours/baseline)': `${sc.p99Ms}/${sc.baselineP99Ms}` } : {}),
          },
        ]),
      ),
    );
    for (const [k, sc] of Object.entries(scenarios)) if (sc.note) console.log(`${k}: ${sc.note}`);
  } finally {
    await server.stop();
    await disconnectDatabase();
    await database.engine?.stop();
    if (database.engine) await rm(database.engine.dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
