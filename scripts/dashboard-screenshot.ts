/**
 * `npx tsx scripts/dashboard-screenshot.ts`: the README's pictures of the operator dashboard,
 * taken the way a new user sees it. On a throw-away data folder it runs `npm run seed` (3,000
 * customers and a year of interactions), starts the API as `npm start` does, runs one campaign
 * to the VIPs, signs in at `/` in headless Chromium, records a few purchases while the page is
 * open (the feeds and tiles move), and saves docs/dashboard.png (the overview) and
 * docs/dashboard-drill-down.png (a segment's customers and one customer's timeline and insights).
 * Every process it starts is stopped, and the folder removed, also when it fails.
 *
 * The pages must be built first (`npx tsx scripts/build-graphiql.ts`).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import { projectRoot } from '../src/shared/paths.js';
import { launchChromium } from '../test/helpers/chromium.js';

const ADMIN = { email: 'admin@pulse.example', password: 'screenshot admin password' };
const OVERVIEW = path.join(projectRoot, 'docs', 'dashboard.png');
const DRILL_DOWN = path.join(projectRoot, 'docs', 'dashboard-drill-down.png');
const children = new Set<ChildProcess>();
const execFileAsync = promisify(execFile);

/** Runs one of the project's entry points from source, as `npm start` and `npm run seed` do. */
function run(entry: string, args: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', entry, ...args], {
    cwd: projectRoot,
    env: { ...process.env, MONGODB_URI: undefined, NODE_OPTIONS: undefined, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function exited(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode);
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

/** SIGTERM (the API shuts down gracefully and stops its engine), SIGKILL if it hangs. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited(child);
  clearTimeout(timer);
}

async function seed(dataDir: string): Promise<void> {
  const child = run('scripts/seed.ts', [], { CRM_DATA_DIR: dataDir });
  child.stdout!.pipe(process.stdout);
  const code = await exited(child);
  if (code !== 0) throw new Error(`npm run seed failed (exit code ${code})`);
}

/** Starts the API on a free port; resolves with its GraphQL URL once it prints its ready line. */
function startApi(dataDir: string): Promise<string> {
  const child = run('src/main.ts', [], {
    CRM_DATA_DIR: dataDir,
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    CRM_ADMIN_EMAIL: ADMIN.email,
    CRM_ADMIN_PASSWORD: ADMIN.password,
  });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const ready = /ready at (http:\/\/\S+)/.exec(out);
      if (ready) resolve(ready[1]!);
    });
    child.once('exit', (code) => reject(new Error(`the API exited (code ${code}) before it was ready:\n${out}`)));
  });
}

type Graphql = <T>(query: string, variables?: Record<string, unknown>) => Promise<T>;

function client(url: string, token: string | null): Graphql {
  return async <T>(query: string, variables?: Record<string, unknown>) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: Array<{ message: string }> };
    if (body.errors?.length) throw new Error(body.errors.map((e) => e.message).join('; '));
    return body.data!;
  };
}

/**
 * Half the demo's names are Korean: without a Korean font Chromium draws them as boxes. As root
 * (like the browser tests' chromium) Debian's fonts-nanum is installed; otherwise a warning.
 */
async function ensureKoreanFont(): Promise<void> {
  const { stdout } = await execFileAsync('fc-list', [':lang=ko', 'family']).catch(() => ({ stdout: '' }));
  if (stdout.trim()) return;
  if (process.getuid?.() !== 0) {
    console.warn('No Korean font: Korean names will show as boxes (sudo apt-get install -y fonts-nanum).');
    return;
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await execFileAsync('apt-get', ['update', '-qq'], { env, maxBuffer: 64 * 1024 * 1024 });
  await execFileAsync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'fonts-nanum'], {
    env,
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** Polls until `check` gives a value, or fails after the deadline. */
async function until<T>(what: string, check: () => Promise<T | null | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A campaign to the VIPs, sent, with some of them opening and clicking it. */
async function runCampaign(api: Graphql): Promise<void> {
  const { createCampaign } = await api<{ createCampaign: { campaign: { id: string } } }>(
    `mutation($input: CreateCampaignInput!) { createCampaign(input: $input) { campaign { id } } }`,
    {
      input: { name: 'VIP spring preview', targetSegments: ['VIP'], message: 'Dear {{name}}, the spring collection…' },
    },
  );
  const id = createCampaign.campaign.id;
  await api('mutation($id: ID!) { executeCampaign(id: $id) { campaign { id } } }', { id });
  type Deliveries = {
    campaign: { status: string; deliveries: { edges: Array<{ node: { customer: { id: string } } }> } };
  };
  const { campaign } = await until('the campaign completes', async () => {
    const d = await api<Deliveries>(
      'query($id: ID!) { campaign(id: $id) { status deliveries(first: 40) { edges { node { customer { id } } } } } }',
      { id },
    );
    return d.campaign.status === 'COMPLETED' ? d : null;
  });
  for (const [i, { node }] of campaign.deliveries.edges.entries()) {
    const kinds = i % 3 === 0 ? ['OPENED', 'CLICKED'] : i % 2 === 0 ? ['OPENED'] : [];
    for (const kind of kinds)
      await api(
        'mutation($input: RecordCampaignResponseInput!) { recordCampaignResponse(input: $input) { recorded } }',
        { input: { campaignId: id, customerId: node.customer.id, kind } },
      );
  }
}

async function signIn(browser: Browser, baseUrl: string, hash = ''): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1280, height: 1100 }, locale: 'en-US' });
  await page.goto(`${baseUrl}/${hash}`);
  await page.getByLabel('E-mail').fill(ADMIN.email);
  await page.getByLabel('Password').fill(ADMIN.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.locator('[data-kpi=revenue] .value', { hasText: /\d/ }).waitFor();
  await page.locator('[data-chart=revenue] canvas').waitFor();
  await page.locator('[data-status] dd').first().waitFor();
  return page;
}

/**
 * Purchases of customers at risk, recorded while the page is open: the feeds fill, the segment
 * bars move and so does the Purchases tile.
 */
async function recordLivePurchases(api: Graphql, page: Page): Promise<void> {
  await until('the page listens', async () => {
    const s = await api<{ systemStatus: { activeSubscriptions: number } }>('{ systemStatus { activeSubscriptions } }');
    return s.systemStatus.activeSubscriptions >= 5;
  });
  const purchasesShown = async () =>
    Number((await page.locator('[data-kpi=purchases] .value').innerText()).replace(/\D/g, ''));
  const before = await purchasesShown();
  const { customers } = await api<{ customers: { edges: Array<{ node: { id: string } }> } }>(
    '{ customers(filter: { segments: [AT_RISK] }, first: 3) { edges { node { id } } } }',
  );
  for (const [i, { node }] of customers.edges.entries())
    await api('mutation($input: RecordPurchaseInput!) { recordPurchase(input: $input) { customer { id } } }', {
      input: { customerId: node.id, amount: String(45_000 + i * 27_500), channel: i % 2 ? 'APP' : 'WEB' },
    });
  await until('the tile moves', async () => (await purchasesShown()) === before + customers.edges.length);
  await until('the feeds show them', async () => (await page.locator('[data-feed=segments] li').count()) >= 3);
}

/** What to undo, on success, failure or Ctrl-C alike. */
const started: { dataDir?: string; browser?: Browser } = {};

async function cleanUp(): Promise<void> {
  await started.browser?.close().catch(() => {});
  await Promise.all([...children].map(stop));
  if (started.dataDir) await rm(started.dataDir, { recursive: true, force: true });
}

/** The drill-down: from the segment's customers to the end of the customer's panel. */
async function drillDownArea(page: Page): Promise<{ x: number; y: number; width: number; height: number }> {
  const top = await page.locator('[data-section=segment-customers]').boundingBox();
  const bottom = await page.locator('[data-section=customer]').boundingBox();
  const margin = 12;
  return {
    x: 0,
    y: top!.y - margin,
    width: page.viewportSize()!.width,
    height: bottom!.y + bottom!.height - top!.y + 2 * margin,
  };
}

async function main(): Promise<void> {
  started.dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-screenshot-'));
  await seed(started.dataDir);
  const url = await startApi(started.dataDir);
  const baseUrl = new URL(url).origin;
  const { login } = await client(url, null)<{ login: { token: string } }>(
    'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token } }',
    { e: ADMIN.email, p: ADMIN.password },
  );
  const api = client(url, login.token);
  await runCampaign(api);
  await ensureKoreanFont();
  const browser = (started.browser = await launchChromium());

  const overview = await signIn(browser, baseUrl);
  await recordLivePurchases(api, overview);
  await overview.screenshot({ path: OVERVIEW });
  await overview.goto('about:blank'); // leaving closes the page's WebSocket cleanly

  // The busiest of the VIPs on the segment's first page: the list and the customer side by side.
  const { customers } = await api<{ customers: { edges: Array<{ node: { id: string; purchaseCount: number } }> } }>(
    '{ customers(filter: { segments: [VIP] }, first: 20) { edges { node { id purchaseCount } } } }',
  );
  const top = customers.edges.map((e) => e.node).sort((a, b) => b.purchaseCount - a.purchaseCount)[0]!.id;
  const drill = await signIn(browser, baseUrl, `#segment=VIP&customer=${encodeURIComponent(top)}`);
  await drill.locator('[data-section=customer] [data-timeline] tbody tr').first().waitFor();
  await drill.locator('[data-section=segment-customers] tbody tr').first().waitFor();
  await drill.screenshot({ path: DRILL_DOWN, fullPage: true, clip: await drillDownArea(drill) });
  await drill.goto('about:blank');
  console.log(`Saved ${path.relative(projectRoot, OVERVIEW)} and ${path.relative(projectRoot, DRILL_DOWN)}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const)
  process.once(signal, () => void cleanUp().then(() => process.exit(130)));

main()
  .catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exitCode = 1;
  })
  .finally(() => cleanUp());
