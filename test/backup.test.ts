/**
 * `npm run db:backup` and `npm run db:restore` as an operator runs them, against the API
 * running as its own process on the embedded database: a backup taken while clients keep
 * writing restores into a new folder with every write acknowledged before the backup began; a
 * backup taken with nothing running restores too; a restore never overwrites a data folder and
 * never restores a damaged file; with MONGODB_URI the scripts point at mongodump/mongorestore.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ensureBackupToolBinary } from '../src/db/ferretdb/build.js';
import { projectRoot } from '../src/shared/paths.js';
import { spawnEntryPoint, type ApiProcess } from './helpers/process.js';
import { login, TEST_AUTH_ENV } from './helpers/server.js';

type Api = { process: ApiProcess; baseUrl: string; token: string };
type ScriptResult = { code: number | null; stdout: string; stderr: string };

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

async function tempDir(name: string): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), `pulse-crm-${name}-`));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function startApi(dataDir: string): Promise<Api> {
  const api = spawnEntryPoint('src/main.ts', { CRM_DATA_DIR: dataDir });
  const stop = async () => {
    if (api.child.exitCode === null && api.child.signalCode === null) api.child.kill('SIGKILL');
    await api.exited;
  };
  cleanups.push(stop);
  const [, url] = await api.waitForLine(/ready at (\S+)/, 120_000);
  const baseUrl = url!.replace(/\/graphql$/, '');
  const token = await login(baseUrl, TEST_AUTH_ENV.CRM_ADMIN_EMAIL, TEST_AUTH_ENV.CRM_ADMIN_PASSWORD);
  return { process: api, baseUrl, token };
}

async function stopApi(api: Api): Promise<void> {
  api.process.child.kill('SIGTERM');
  expect(await api.process.exited).toEqual({ code: 0, signal: null });
}

/** Runs scripts/db-backup.ts or scripts/db-restore.ts as `npm run` does: its own Node process. */
function runScript(
  script: 'db-backup' | 'db-restore',
  args: string[],
  env: Record<string, string | undefined>,
): Promise<ScriptResult> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], {
    cwd: projectRoot,
    // The run's shared engine is not the database under test.
    env: { ...process.env, MONGODB_URI: undefined, NODE_OPTIONS: undefined, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  cleanups.push(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  return exited.then((code) => ({ code, stdout, stderr }));
}

async function graphql<T>(api: Api, query: string, variables?: Record<string, unknown>) {
  const res = await fetch(`${api.baseUrl}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${api.token}` },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as { data?: T; errors?: unknown[] };
}

async function createCustomer(api: Api, name: string): Promise<string> {
  const res = await graphql<{ createCustomer: { customer: { id: string } | null } }>(
    api,
    'mutation ($input: CreateCustomerInput!) { createCustomer(input: $input) { customer { id } userErrors { code } } }',
    { input: { name } },
  );
  const id = res.data?.createCustomer.customer?.id;
  if (!id) throw new Error(`createCustomer ${name} was refused: ${JSON.stringify(res)}`);
  return id;
}

async function recordInteraction(api: Api, customerId: string, key: string): Promise<boolean> {
  const res = await graphql<{ recordInteraction: { interaction: { id: string } | null } }>(
    api,
    'mutation ($input: RecordInteractionInput!) { recordInteraction(input: $input) { interaction { id } } }',
    { input: { customerId, type: 'SUPPORT', channel: 'PHONE', description: key, externalId: key } },
  );
  return Boolean(res.data?.recordInteraction.interaction);
}

type Page<T> = { edges: Array<{ node: T }>; pageInfo: { hasNextPage: boolean; endCursor: string | null } };

async function allPages<T>(fetchPage: (after: string | null) => Promise<Page<T>>): Promise<T[]> {
  const nodes: T[] = [];
  for (let after: string | null = null; ;) {
    const page: Page<T> = await fetchPage(after);
    nodes.push(...page.edges.map((e) => e.node));
    if (!page.pageInfo.hasNextPage) return nodes;
    after = page.pageInfo.endCursor;
  }
}

const PAGE_INFO = 'pageInfo { hasNextPage endCursor }';

const customerNames = (api: Api) =>
  allPages(async (after) => {
    const res = await graphql<{ customers: Page<{ name: string }> }>(
      api,
      `query ($after: String) { customers(first: 100, after: $after) { edges { node { name } } ${PAGE_INFO} } }`,
      { after },
    );
    return res.data!.customers;
  }).then((nodes) => nodes.map((n) => n.name));

const interactionKeys = (api: Api, customerId: string) =>
  allPages(async (after) => {
    const res = await graphql<{ customer: { interactions: Page<{ externalId: string }> } }>(
      api,
      `query ($id: ID!, $after: String) { customer(id: $id) { interactions(first: 100, after: $after) { edges { node { externalId } } ${PAGE_INFO} } } }`,
      { id: customerId, after },
    );
    return res.data!.customer.interactions;
  }).then((nodes) => nodes.map((n) => n.externalId));

/**
 * One write a client sent: when, and whether and when it was acknowledged, in wall-clock
 * milliseconds (Date.now(): the clock the backup tool prints its snapshot instant with).
 */
type Attempt = { key: string; sentAt: number; ackedAt: number | null };

/**
 * A client writing one thing after another, each under its own key, until stopped: customers
 * (the key is the name) or interactions on one customer (the key is the externalId).
 */
function startWriter(prefix: string, write: (key: string) => Promise<boolean>) {
  const attempts: Attempt[] = [];
  let isStopped = false;
  const done = (async () => {
    for (let i = 0; !isStopped; i++) {
      const attempt: Attempt = { key: `${prefix}-${i}`, sentAt: Date.now(), ackedAt: null };
      attempts.push(attempt);
      const isAcknowledged = await write(attempt.key).catch(() => false);
      if (isAcknowledged) attempt.ackedAt = Date.now();
    }
  })();
  const stop = async () => {
    isStopped = true;
    await done;
  };
  cleanups.push(stop);
  const acknowledged = () => attempts.filter((a) => a.ackedAt !== null).length;
  return { prefix, attempts, acknowledged, stop };
}

type Writer = ReturnType<typeof startWriter>;

async function untilEachHasAcknowledged(writers: Writer[], count: number): Promise<void> {
  const goals = writers.map((w) => w.acknowledged() + count);
  const deadline = Date.now() + 30_000;
  while (writers.some((w, i) => w.acknowledged() < goals[i]!)) {
    if (Date.now() > deadline) throw new Error(`the writers did not reach ${count} more acknowledged writes`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

type BackupTimes = { beganAt: number; endedAt: number; snapshotAt: number };

/**
 * The restored writes of one client, against what it sent: every write acknowledged before the
 * backup began is there, and every one acknowledged before the instant the backup printed as its
 * snapshot; nothing unacknowledged, nor sent after that instant, is; and what is there is the
 * client's first n writes: the backup is one instant, not a mix of moments.
 */
function expectOneInstant(writer: Writer, restored: string[], times: BackupTimes) {
  const mine = new Set(restored.filter((key) => key.startsWith(`${writer.prefix}-`)));
  const acknowledgedBefore = (t: number) => writer.attempts.filter((a) => a.ackedAt !== null && a.ackedAt < t);
  expect(acknowledgedBefore(times.beganAt).length).toBeGreaterThan(0);
  expect(acknowledgedBefore(times.beganAt).filter((a) => !mine.has(a.key))).toEqual([]);
  // Date.now() is whole milliseconds: a write is judged against the snapshot only when the
  // whole millisecond lies before (or after) it.
  const snapshotMs = Math.floor(times.snapshotAt);
  expect(acknowledgedBefore(snapshotMs).filter((a) => !mine.has(a.key))).toEqual([]);
  expect(writer.attempts.filter((a) => mine.has(a.key) && a.ackedAt === null)).toEqual([]);
  expect(writer.attempts.filter((a) => mine.has(a.key) && a.sentAt > snapshotMs)).toEqual([]);
  expect([...mine].sort()).toEqual(
    writer.attempts
      .slice(0, mine.size)
      .map((a) => a.key)
      .sort(),
  );
}

/**
 * The backup with the middle half of its database overwritten and the manifest's size and
 * SHA-256 made to match, so that only SQLite's integrity check can tell.
 */
function withDatabaseOverwritten(backup: Buffer): Buffer {
  const tar = gunzipSync(backup);
  const text = tar.toString('latin1');
  const start = tar.indexOf('SQLite format 3\0');
  const bytes = Number(/"bytes": (\d+)/.exec(text)![1]);
  tar.fill(0x5a, start + Math.floor(bytes / 4), start + Math.floor((3 * bytes) / 4));
  const sha256 = createHash('sha256')
    .update(tar.subarray(start, start + bytes))
    .digest('hex');
  tar.write(sha256, text.indexOf(/"sha256": "([0-9a-f]{64})"/.exec(text)![1]!), 'latin1');
  return gzipSync(tar);
}

beforeAll(async () => {
  // Built once here (seconds with a warm Go cache), so the scripts below time only the backup.
  await ensureBackupToolBinary({ cacheDir: process.env.CRM_ENGINE_CACHE_DIR, progress: () => {} });
}, 600_000);

describe('db:backup and db:restore', () => {
  it('a backup taken while clients write restores every write acknowledged before it began', async () => {
    const dataDir = await tempDir('backup-live');
    const api = await startApi(dataDir);
    const targets = [await createCustomer(api, 'Timeline A'), await createCustomer(api, 'Timeline B')];
    const writers = [
      startWriter('c1', async (key) => Boolean(await createCustomer(api, key))),
      startWriter('c2', async (key) => Boolean(await createCustomer(api, key))),
      startWriter('i1', (key) => recordInteraction(api, targets[0]!, key)),
      startWriter('i2', (key) => recordInteraction(api, targets[1]!, key)),
    ];
    await untilEachHasAcknowledged(writers, 30);

    const backupFile = path.join(await tempDir('backup-file'), 'pulse.tar.gz');
    const beganAt = Date.now();
    const backup = await runScript('db-backup', [backupFile], { CRM_DATA_DIR: dataDir });
    const endedAt = Date.now();
    expect(backup).toMatchObject({ code: 0, stderr: '' });
    const [, snapshot] = /snapshot taken at (\S+) of 1 database file/.exec(backup.stdout) ?? [];
    const times: BackupTimes = { beganAt, endedAt, snapshotAt: Date.parse(snapshot ?? '') };
    expect(times.snapshotAt).toBeGreaterThanOrEqual(Math.floor(beganAt));
    expect(backup.stdout).toMatch(/copied pulse_crm\.sqlite: \d+ bytes/);
    expect(backup.stdout).toMatch(/backup written: .*pulse\.tar\.gz \(\d+ bytes/);
    const writtenDuringBackup = writers.flatMap((w) =>
      w.attempts.filter((a) => a.ackedAt !== null && a.sentAt > beganAt && a.ackedAt < endedAt),
    );
    expect(writtenDuringBackup.length).toBeGreaterThan(0);

    await untilEachHasAcknowledged(writers, 10);
    await Promise.all(writers.map((w) => w.stop()));
    await stopApi(api);

    const restoredDir = path.join(await tempDir('restored-live'), 'data');
    const restore = await runScript('db-restore', [backupFile], { CRM_DATA_DIR: restoredDir });
    expect(restore).toMatchObject({ code: 0, stderr: '' });
    expect(restore.stdout).toMatch(/checking pulse_crm\.sqlite \(SQLite integrity_check\)/);
    const restored = await startApi(restoredDir);
    const names = await customerNames(restored);
    const keys = [
      ...names,
      ...(await interactionKeys(restored, targets[0]!)),
      ...(await interactionKeys(restored, targets[1]!)),
    ];
    for (const writer of writers) expectOneInstant(writer, keys, times);
    await stopApi(restored);
  }, 180_000);

  describe('with a backup taken while nothing runs', () => {
    let backupFile = '';
    beforeAll(async () => {
      const dataDir = await tempDir('backup-idle');
      const api = await startApi(dataDir);
      await createCustomer(api, 'Kept Customer');
      await stopApi(api);
      backupFile = path.join(await tempDir('backup-idle-file'), 'idle.tar.gz');
      const backup = await runScript('db-backup', [backupFile], { CRM_DATA_DIR: dataDir });
      expect(backup).toMatchObject({ code: 0, stderr: '' });
    }, 180_000);

    it('restores it, and the API starts on the restored folder', async () => {
      const dataDir = path.join(await tempDir('restored-idle'), 'data');
      expect(await runScript('db-restore', [backupFile], { CRM_DATA_DIR: dataDir })).toMatchObject({ code: 0 });
      const api = await startApi(dataDir);
      expect(await customerNames(api)).toEqual(['Kept Customer']);
      await stopApi(api);
    }, 120_000);

    it('refuses to restore into a folder that is not empty, and leaves it as it was', async () => {
      const dataDir = await tempDir('restore-occupied');
      await writeFile(path.join(dataDir, 'notes.txt'), 'mine');
      const restore = await runScript('db-restore', [backupFile], { CRM_DATA_DIR: dataDir });
      expect(restore.code).toBe(1);
      expect(restore.stderr).toMatch(/The data folder .* is not empty \(it holds notes\.txt\)/);
      expect(await readdir(dataDir)).toEqual(['notes.txt']);
    });

    it('refuses a damaged backup file and restores nothing', async () => {
      const good = await readFile(backupFile);
      const flipped = Buffer.from(good);
      const middle = Math.floor(flipped.length / 2);
      flipped[middle] = (flipped[middle] ?? 0) ^ 0xff;
      const damaged = {
        'flipped.tar.gz': flipped,
        'truncated.tar.gz': good.subarray(0, Math.floor(good.length / 2)),
        'not-a-backup.tar.gz': Buffer.from('hello, world\n'),
        'checksums-rewritten.tar.gz': withDatabaseOverwritten(good),
      };
      const folder = await tempDir('damaged');
      for (const [name, bytes] of Object.entries(damaged)) {
        const file = path.join(folder, name);
        await writeFile(file, bytes);
        const dataDir = path.join(folder, `${name}.data`);
        await mkdir(dataDir);
        const restore = await runScript('db-restore', [file], { CRM_DATA_DIR: dataDir });
        expect({ name, code: restore.code }).toEqual({ name, code: 1 });
        expect(restore.stderr).toMatch(/the backup is damaged or not a Pulse CRM backup/);
        if (name === 'checksums-rewritten.tar.gz')
          expect(restore.stderr).toMatch(/fails SQLite's integrity check|cannot be read by SQLite/);
        expect(await readdir(dataDir)).toEqual([]);
      }
      expect((await runScript('db-restore', ['--check', path.join(folder, 'flipped.tar.gz')], {})).code).toBe(1);
      expect((await runScript('db-restore', ['--check', backupFile], {})).stdout).toMatch(/backup is sound/);
    }, 120_000);
  });

  it('with MONGODB_URI set, db:backup refuses and names mongodump', async () => {
    const backupFile = path.join(await tempDir('backup-external'), 'never.tar.gz');
    const backup = await runScript('db-backup', [backupFile], { MONGODB_URI: 'mongodb://127.0.0.1:1/' });
    expect(backup.code).toBe(1);
    expect(backup.stderr).toMatch(/MONGODB_URI is set.*\n.*mongodump --uri="\$MONGODB_URI"/);
    expect(await readdir(path.dirname(backupFile))).toEqual([]);
  });
});
