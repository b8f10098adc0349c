/**
 * `npm run bench:reads [-- --sizes 3000,30000,100000 --requests 40 --label now --single-only]`: the reads a
 * user feels, timed from a client as a user would see them, at several data sizes.
 *
 * For each size: a fresh data folder, `npm run seed -- --customers N` into it (the same command a
 * user runs), the API started as `npm start` starts it (its own process, the embedded engine),
 * then each read below sent `--requests` times by one client (p50, p99) and by 20 connections at
 * once (p50, p99, req/s). `CRM_FERRETDB_BIN=<binary>` runs the same against another engine build,
 * for example one without the index patches, to put "before" beside "after". Results are printed
 * and written to bench/read-scaling-<label>.json; every process started is stopped, also on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { projectRoot } from '../src/shared/paths.js';

const argValue = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const SIZES = argValue('sizes', '3000,30000').split(',').map(Number);
const REQUESTS = Number(argValue('requests', '40'));
const LABEL = argValue('label', process.env.CRM_FERRETDB_BIN ? 'other-engine' : 'now');
/** One client only: the 20-connection run of an engine that scans takes minutes per read. */
const SINGLE_ONLY = process.argv.includes('--single-only');
const CONNECTIONS = 20;
const ADMIN = { email: 'scaling@pulse.test', password: 'scaling bench password' };

const children = new Set<ChildProcess>();
function stopAll() {
  for (const c of children) {
    try {
      if (c.pid) process.kill(-c.pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
}
process.on('exit', stopAll);
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

function run(args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: projectRoot,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: true,
    });
    children.add(child);
    child.once('exit', (code) => {
      children.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`${args.join(' ')} exited with ${code}`));
    });
  });
}

async function startApi(env: NodeJS.ProcessEnv): Promise<{ url: string; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
  });
  children.add(child);
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = out.match(/ready at (http:\/\/\S+)/);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the API exited with ${code} before it was ready`)));
  });
  child.stdout!.resume();
  return {
    url,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => {
          children.delete(child);
          resolve();
        });
        process.kill(-child.pid!, 'SIGTERM');
      }),
  };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the reads' answers are walked loosely
async function gql(url: string, token: string, query: string, variables?: unknown): Promise<any> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await res.json()) as { data?: unknown; errors?: unknown };
  if (body.errors || !body.data) throw new Error(JSON.stringify(body.errors ?? body).slice(0, 500));
  return body.data;
}

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return +s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!.toFixed(1);
};

type Read = { name: string; query: string; variables: (i: number) => unknown };

async function reads(url: string, token: string): Promise<Read[]> {
  const first = await gql(
    url,
    token,
    '{ customers(first: 100, orderBy: {field: NAME, direction: ASC}) { edges { node { id } } pageInfo { endCursor } } }',
  );
  const ids: string[] = first.customers.edges.map((e: { node: { id: string } }) => e.node.id);
  const page = await gql(url, token, '{ customers(first: 20) { pageInfo { endCursor } } }');
  const after = page.customers.pageInfo.endCursor as string;
  const id = (i: number) => ids[i % ids.length];
  const customerFields = 'id code name segment totalPurchases { amount currency }';
  return [
    {
      name: 'customer with its last 5 interactions',
      query: `query($id: ID!) { customer(id: $id) { ${customerFields} interactions(first: 5) { edges { node { id type occurredAt } } } } }`,
      variables: (i) => ({ id: id(i) }),
    },
    {
      name: 'first page of customers (with 5 interactions each)',
      query: `{ customers(first: 20) { edges { node { ${customerFields} interactions(first: 5) { edges { node { id type occurredAt } } } } } } }`,
      variables: () => ({}),
    },
    {
      name: 'next page of customers',
      query: `query($after: String) { customers(first: 20, after: $after) { edges { node { ${customerFields} } } } }`,
      variables: () => ({ after }),
    },
    {
      name: 'VIP customers by total purchases',
      query: `{ customers(first: 20, filter: {segments: [VIP]}, orderBy: {field: TOTAL_PURCHASES, direction: DESC}) { edges { node { ${customerFields} } } } }`,
      variables: () => ({}),
    },
    {
      name: "one customer's interactions page",
      query: `query($id: ID!) { interactions(first: 20, filter: {customerId: $id}) { edges { node { id type occurredAt } } } }`,
      variables: (i) => ({ id: id(i) }),
    },
    {
      name: 'all interactions, first page',
      query: `{ interactions(first: 20) { edges { node { id type occurredAt } } } }`,
      variables: () => ({}),
    },
    {
      name: 'prefix search',
      query: `query($q: String!) { customers(first: 20, filter: {search: $q}) { edges { node { ${customerFields} } } } }`,
      variables: (i) => ({ q: ['kim', 'lee', 'park', '김', 'choi'][i % 5] }),
    },
    {
      name: 'customer insights',
      query: `query($id: ID!) { customerInsights(id: $id) { lifetimeValue { amount } churnRisk rfm { code } nextBestActions { action } } }`,
      variables: (i) => ({ id: id(i) }),
    },
  ];
}

async function timeOne(url: string, token: string, r: Read, i: number): Promise<number> {
  const t = performance.now();
  await gql(url, token, r.query, r.variables(i));
  return performance.now() - t;
}

async function measure(url: string, token: string, r: Read) {
  await timeOne(url, token, r, 0); // warm caches and connections, as a user's second request
  const single: number[] = [];
  for (let i = 0; i < REQUESTS; i++) single.push(await timeOne(url, token, r, i));
  if (SINGLE_ONLY) return { p50: pct(single, 50), p99: pct(single, 99) };
  const loaded: number[] = [];
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: CONNECTIONS }, async () => {
      while (next < REQUESTS * 5) loaded.push(await timeOne(url, token, r, next++));
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return {
    p50: pct(single, 50),
    p99: pct(single, 99),
    loadedP50: pct(loaded, 50),
    loadedP99: pct(loaded, 99),
    reqPerS: Math.round(loaded.length / seconds),
  };
}

async function main() {
  const results: Record<string, Record<string, unknown>> = {};
  for (const n of SIZES) {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), `pulse-crm-scaling-${n}-`));
    const env = {
      ...process.env,
      CRM_DATA_DIR: dataDir,
      NODE_ENV: 'development',
      LOG_LEVEL: 'warn',
      PORT: '0',
      HOST: '127.0.0.1',
      RATE_LIMIT_PER_MINUTE: '100000000',
      WS_MAX_SOCKETS_PER_USER: '1000000',
      WS_MAX_SOCKETS_PER_ADDRESS: '1000000',
      CRM_ADMIN_EMAIL: ADMIN.email,
      CRM_ADMIN_PASSWORD: ADMIN.password,
      AUTOMATION_DEFAULT_JOURNEYS: 'false',
    };
    try {
      const seeded = performance.now();
      await run(['--import', 'tsx', 'scripts/seed.ts', '--customers', String(n)], env);
      const seedSeconds = Math.round((performance.now() - seeded) / 1000);
      const api = await startApi(env);
      try {
        const login = await gql(
          api.url,
          '',
          'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
          {
            e: ADMIN.email,
            p: ADMIN.password,
          },
        );
        const token = login.login.token as string;
        const row: Record<string, unknown> = { seedSeconds };
        for (const r of await reads(api.url, token)) {
          row[r.name] = await measure(api.url, token, r);
          console.log(n, r.name, JSON.stringify(row[r.name]));
        }
        results[n] = row;
      } finally {
        await api.stop();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }
  const file = path.join(projectRoot, 'bench', `read-scaling-${LABEL}.json`);
  await writeFile(
    file,
    `${JSON.stringify({ machine: `${os.cpus().length} × ${os.cpus()[0]?.model}`, node: process.version, engine: process.env.CRM_FERRETDB_BIN ?? 'the project build', requests: REQUESTS, connections: CONNECTIONS, results }, null, 2)}\n`,
  );
  console.log(`written ${file}`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
