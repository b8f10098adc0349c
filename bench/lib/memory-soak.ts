/**
 * The API's memory over a long run (`npm run bench:soak -- --api`): a fresh API process, as
 * `npm start` runs it (production defaults, default journeys on), on a fresh engine; idle
 * graphql-ws subscribers connected from a client process the whole time; interactions recorded
 * at a steady rate (a complaint in ten, an occasional purchase that makes a customer VIP, so
 * the consumers, the journeys and the subscriptions all have work) and a new customer now and
 * then. Every `sampleSeconds` the API's heap and RSS are read after full collections. The
 * verdict compares the mean of the last third of the samples after the warm-up with the mean
 * of the first third, with the least-squares slope beside it; everything is written to `out`.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { openIdleClients, startApiProcess, type MemoryReading } from './measured-process.js';
import { graphqlRequest } from './graphql-client.js';

export type MemorySoakOptions = {
  uri: string;
  dbName: string;
  minutes: number;
  subscribers: number;
  interactionsPerSecond: number;
  sampleSeconds: number;
  warmUpSeconds: number;
  out: string;
  /** A folder for two heap snapshots of the API: at the end of the warm-up and at the end. */
  heapSnapshots?: string;
};

type Sample = MemoryReading & { elapsedS: number; recorded: number; customers: number; delivered: number; lag: number };

const ADMIN = { email: 'soak@pulse.test', password: 'soak password 0123' };
const CUSTOMERS_AT_START = 200;
/** More than this apart, the thirds differ by more than the noise of a collected heap. */
const GROWTH_TOLERANCE = 0.05;

const graphql = graphqlRequest;

const CREATE_CUSTOMER = 'mutation($name: String!) { createCustomer(input: { name: $name }) { customer { id } } }';
const RECORD =
  'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount } }';

/** The interactions of second `s`: the same mix as the ingest scenario, round the customers. */
function interactionsOf(customers: string[], s: number, perSecond: number) {
  return Array.from({ length: perSecond }, (_, i) => {
    const n = s * perSecond + i;
    const kind = n % 10;
    const type = kind === 9 ? 'COMPLAINT' : kind % 3 === 0 ? 'PURCHASE' : kind % 3 === 1 ? 'INQUIRY' : 'SUPPORT';
    const amount = n % 50 === 0 ? '1000000' : '12000';
    return {
      customerId: customers[n % customers.length]!,
      type,
      channel: 'APP',
      ...(type === 'PURCHASE' ? { amount } : {}),
      externalId: `soak-${n}`,
    };
  });
}

/** Mean, and slope per minute by least squares, of `key` over the samples. */
function trend(samples: Sample[], key: 'heapUsed' | 'rss') {
  const third = Math.max(1, Math.floor(samples.length / 3));
  const mean = (of: Sample[]) => of.reduce((sum, s) => sum + s[key], 0) / of.length;
  const first = mean(samples.slice(0, third));
  const last = mean(samples.slice(-third));
  const xs = samples.map((s) => s.elapsedS / 60);
  const xMean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const yMean = mean(samples);
  const sxx = xs.reduce((sum, x) => sum + (x - xMean) ** 2, 0);
  const sxy = samples.reduce((sum, s, i) => sum + (xs[i]! - xMean) * (s[key] - yMean), 0);
  const change = (last - first) / first;
  return {
    firstThirdMean: Math.round(first),
    lastThirdMean: Math.round(last),
    change: +change.toFixed(4),
    slopeBytesPerMinute: Math.round(sxx ? sxy / sxx : 0),
    isGrowing: change > GROWTH_TOLERANCE,
  };
}

const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);

export async function soakApiMemory(opts: MemorySoakOptions): Promise<void> {
  if (opts.heapSnapshots) await mkdir(opts.heapSnapshots, { recursive: true });
  const metricsToken = randomBytes(16).toString('base64url');
  const api = await startApiProcess({
    uri: opts.uri,
    dbName: opts.dbName,
    env: {
      JWT_SECRET: randomBytes(32).toString('base64url'),
      METRICS_TOKEN: metricsToken,
      CRM_ADMIN_EMAIL: ADMIN.email,
      CRM_ADMIN_PASSWORD: ADMIN.password,
      // One client process is one address and one user: the limits meant for many are raised.
      RATE_LIMIT_PER_MINUTE: '100000000',
      WS_MAX_SOCKETS_PER_USER: '1000000',
      WS_MAX_SOCKETS_PER_ADDRESS: '1000000',
    },
  });
  let clients: Awaited<ReturnType<typeof openIdleClients>> | undefined;
  try {
    const login = await graphql<{ login: { token: string } }>(
      api.url,
      '',
      'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
      { e: ADMIN.email, p: ADMIN.password },
    );
    const token = login.login.token;
    const customers: string[] = [];
    const createCustomer = async () => {
      const name = `Soak customer ${customers.length}`;
      const created = await graphql<{ createCustomer: { customer: { id: string } } }>(api.url, token, CREATE_CUSTOMER, {
        name,
      });
      customers.push(created.createCustomer.customer.id);
    };
    for (let i = 0; i < CUSTOMERS_AT_START; i += 10) await Promise.all(Array.from({ length: 10 }, createCustomer));
    clients = await openIdleClients('graphql', api.url, opts.subscribers, token);
    const deliveredSoFar = async () => {
      const child = clients!.child;
      return new Promise<number>((resolve) => {
        const onMessage = (m: { received?: number }) => {
          if (m.received === undefined) return;
          child.off('message', onMessage);
          resolve(m.received);
        };
        child.on('message', onMessage);
        child.send({ report: true });
      });
    };
    console.log(
      `memory soak: ${opts.minutes} min, ${opts.subscribers} subscribers, ${opts.interactionsPerSecond} interactions/s ` +
        `and a new customer every 5 s, a sample every ${opts.sampleSeconds} s (the first ${opts.warmUpSeconds} s are warm-up)`,
    );

    const started = performance.now();
    const elapsedS = () => (performance.now() - started) / 1000;
    let recorded = 0;
    const samples: Sample[] = [];
    const sampleNow = async (heapSnapshot?: string) => {
      const [memory, delivered, lag] = await Promise.all([
        api.readMemory(heapSnapshot && path.join(opts.heapSnapshots!, heapSnapshot)),
        deliveredSoFar(),
        api.metric('pulse_event_log_lag'),
      ]);
      const sample = {
        elapsedS: Math.round(elapsedS()),
        recorded,
        customers: customers.length,
        delivered,
        lag,
        ...memory,
      };
      samples.push(sample);
      console.log(
        `${String(sample.elapsedS).padStart(5)} s  recorded ${String(recorded).padStart(6)}  delivered ` +
          `${String(delivered).padStart(7)}  heap ${mib(memory.heapUsed).padStart(6)} MiB  rss ${mib(memory.rss).padStart(6)} MiB  ` +
          `lag ${lag}`,
      );
    };
    let nextSampleS = 0;
    let isWarmUpSnapshotDue = !!opts.heapSnapshots;
    for (let s = 0; elapsedS() < opts.minutes * 60; s++) {
      const secondEnds = started + (s + 1) * 1000;
      const batch = interactionsOf(customers, s, opts.interactionsPerSecond);
      const data = await graphql<{ recordInteractions: { recordedCount: number } }>(api.url, token, RECORD, {
        inputs: batch,
      });
      recorded += data.recordInteractions.recordedCount;
      if (s % 5 === 4) await createCustomer();
      if (elapsedS() >= nextSampleS) {
        const isAfterWarmUp = isWarmUpSnapshotDue && elapsedS() >= opts.warmUpSeconds;
        await sampleNow(isAfterWarmUp ? 'after-warm-up.heapsnapshot' : undefined);
        if (isAfterWarmUp) isWarmUpSnapshotDue = false;
        nextSampleS += opts.sampleSeconds;
      }
      await new Promise((r) => setTimeout(r, Math.max(0, secondEnds - performance.now())));
    }
    await sampleNow(opts.heapSnapshots ? 'end.heapsnapshot' : undefined);

    const measured = samples.filter((s) => s.elapsedS >= opts.warmUpSeconds);
    const summary = {
      heap: trend(measured, 'heapUsed'),
      rss: trend(measured, 'rss'),
      samplesAfterWarmUp: measured.length,
    };
    const verdict = summary.heap.isGrowing || summary.rss.isGrowing ? 'GROWS' : 'flat';
    await writeFile(
      opts.out,
      `${JSON.stringify({ date: new Date().toISOString(), node: process.version, options: { ...opts, uri: undefined }, verdict, summary, samples }, null, 2)}\n`,
    );
    const line = (name: string, t: ReturnType<typeof trend>) =>
      `${name} ${mib(t.firstThirdMean)} → ${mib(t.lastThirdMean)} MiB (${(t.change * 100).toFixed(1)} %, ` +
      `${(t.slopeBytesPerMinute / 1024).toFixed(0)} KiB/min)`;
    console.log(
      `\nmemory soak: ${verdict} — first vs last third after the warm-up: ${line('heap', summary.heap)}; ` +
        `${line('RSS', summary.rss)}; ${recorded} interactions recorded, ${samples.at(-1)!.delivered} messages ` +
        `delivered to the subscribers; written to ${opts.out}`,
    );
  } finally {
    await clients?.close();
    await api.stop();
  }
}
