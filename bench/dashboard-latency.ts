/**
 * `npx tsx bench/dashboard-latency.ts [interactions]`: the dashboard query's latency over a year
 * of data. Inserts the interactions (default 1,000,000, over 365 days and 20,000 customers) into
 * a fresh embedded database (with the 20,000 customer documents), builds the daily KPI buckets from them with the same increments the
 * analytics consumer applies per event, then times `dashboard` over GraphQL-over-HTTP for a
 * year by day, week and month, and a month by day (20 runs each; the first of each pays the
 * active-customers count, which is then kept for a minute).
 */
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose, { Types } from 'mongoose';
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { startEmbeddedDbIfNeeded } from '../src/db/embedded.js';
import { kpiIncrements } from '../src/modules/analytics/counting.js';
import { KpiDay } from '../src/modules/analytics/model.js';
import { Interaction, type InteractionDoc } from '../src/modules/interactions/model.js';
import { startServer } from '../src/app/server.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger } from '../src/shared/logger.js';
import { seededRandom } from '../src/shared/prng.js';
import { insertCustomersWithInteractions } from './scenarios/data.js';

const total = Number(process.argv[2] ?? 1_000_000);
const DAY_MS = 86_400_000;
const admin = { email: 'bench@pulse.test', password: 'bench password 0123' };

const config = loadConfig({
  ...process.env,
  CRM_DATA_DIR: path.join(os.tmpdir(), `pulse-crm-dashboard-${process.pid}`),
  LOG_LEVEL: 'silent',
  PORT: '0',
  HOST: '127.0.0.1',
  CRM_ADMIN_EMAIL: admin.email,
  CRM_ADMIN_PASSWORD: admin.password,
  JWT_SECRET: randomBytes(32).toString('base64url'),
  AUTOMATION_DEFAULT_JOURNEYS: 'false',
});
const logger = createLogger('silent');
const database = await startEmbeddedDbIfNeeded(config, logger);
await connectDatabase({ uri: database.uri, dbName: 'dashboard_bench', maxPoolSize: 20 });
await mongoose.connection.dropDatabase();

const rng = seededRandom(7);
const end = Date.UTC(2026, 10, 25);
const customerCount = 20_000;
const channels = ['WEB', 'APP', 'PHONE', 'STORE', 'EMAIL', 'SMS'] as const;
const segments = ['VIP', 'LOYAL', 'NEW', 'AT_RISK', 'CHURNED'] as const;
const customerIds = await insertCustomersWithInteractions(customerCount, 0, 'D');
const days = new Map<string, Record<string, number>>();
const started = performance.now();
for (let done = 0; done < total;) {
  const batch: InteractionDoc[] = [];
  for (let i = 0; i < 10_000 && done < total; i++, done++) {
    const type = rng() < 0.4 ? 'PURCHASE' : rng() < 0.1 ? 'COMPLAINT' : 'INQUIRY';
    const doc: InteractionDoc = {
      _id: `i:${new Types.ObjectId().toHexString()}`,
      customerId: customerIds[Math.floor(rng() * customerIds.length)]!,
      type,
      channel: channels[Math.floor(rng() * channels.length)]!,
      occurredAt: new Date(end - Math.floor(rng() * 365 * DAY_MS)),
      recordedAt: new Date(end),
      ...(type === 'PURCHASE' ? { amountMinor: 1_000 * (1 + Math.floor(rng() * 200)), currency: 'KRW' } : {}),
    };
    batch.push(doc);
    const counted = kpiIncrements({
      type: 'INTERACTION_RECORDED',
      // Counting reads the interaction and the customer's segment only.
      payload: { interaction: doc, customer: { segment: segments[Math.floor(rng() * segments.length)]! } } as never,
    })!;
    const day = days.get(counted.day) ?? {};
    for (const [k, v] of Object.entries(counted.inc)) day[k] = (day[k] ?? 0) + v;
    days.set(counted.day, day);
  }
  await Interaction.collection.insertMany(batch as never[]);
}
const insertSeconds = (performance.now() - started) / 1000;
// The bucket documents, as the consumer's $inc would have left them.
const docs = [...days.entries()].map(([_id, inc]) => {
  const doc: Record<string, unknown> = { _id, lastSeq: 0 };
  for (const [k, v] of Object.entries(inc)) {
    const parts = k.split('.');
    let at = doc;
    for (const p of parts.slice(0, -1)) at = (at[p] ??= {}) as Record<string, unknown>;
    at[parts.at(-1)!] = v;
  }
  return doc;
});
await KpiDay.collection.insertMany(docs as never[]);

const server = await startServer({ config, logger, clock: systemClock, databaseKind: database.kind });
const url = `http://127.0.0.1:${server.port}/graphql`;
const login = (await (
  await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      query: 'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
      variables: { e: admin.email, p: admin.password },
    }),
  })
).json()) as { data: { login: { token: string } } };
const query = `query($from: DateTime!, $to: DateTime!, $g: Granularity) { dashboard(from: $from, to: $to, granularity: $g) {
  revenue { total { amount } series { start value { amount } } } purchases { total } averageOrderValue { total { amount } }
  interactions { total } complaintRate { total series { value } } churnRate { total } activeCustomers monthlyActiveCustomers { value } segmentFlows { from to count } } }`;
async function time(from: Date, granularity: string): Promise<{ p50: number; p95: number; purchases: number }> {
  const times: number[] = [];
  let purchases = 0;
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    const res = (await (
      await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${login.data.login.token}` },
        body: JSON.stringify({
          query,
          variables: { from: from.toISOString(), to: new Date(end).toISOString(), g: granularity },
        }),
      })
    ).json()) as { data: { dashboard: { purchases: { total: number } } } };
    times.push(performance.now() - t0);
    purchases = res.data.dashboard.purchases.total;
  }
  times.sort((a, b) => a - b);
  return { p50: +times[9]!.toFixed(1), p95: +times[18]!.toFixed(1), purchases };
}
const year = new Date(end - 364 * DAY_MS);
const month = new Date(end - 29 * DAY_MS);
console.log(
  `${total.toLocaleString('en')} interactions inserted in ${insertSeconds.toFixed(1)} s; ${docs.length} day buckets`,
);
console.table({
  'year by day': await time(year, 'DAY'),
  'year by week': await time(year, 'WEEK'),
  'year by month': await time(year, 'MONTH'),
  'month by day': await time(month, 'DAY'),
});
await server.stop();
await disconnectDatabase();
await database.engine?.stop();
if (database.engine) await rm(database.engine.dataDir, { recursive: true, force: true });
