/**
 * The process as a user runs it: `npm start` on the embedded database, `npm run db`, shutdown
 * and crashes. Nothing here may leave an engine process behind.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { createClient } from 'graphql-ws';
import mongoose from 'mongoose';
import WebSocket from 'ws';
import { enginePidsFor, eventually, spawnEntryPoint, type ApiProcess } from './helpers/process.js';
import { login, TEST_AUTH_ENV } from './helpers/server.js';

const READY = /Pulse CRM API ready at (http:\/\/\S+)\n/;
const started: ApiProcess[] = [];
const dataDirs: string[] = [];

async function freshDataDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-life-'));
  dataDirs.push(dir);
  return dir;
}

function start(entry: 'src/main.ts' | 'src/db/cli.ts', env: Record<string, string | undefined>): ApiProcess {
  const p = spawnEntryPoint(entry, env);
  started.push(p);
  return p;
}

afterEach(async () => {
  for (const p of started.splice(0)) {
    if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
    await p.exited;
  }
  for (const dir of dataDirs.splice(0)) {
    await engineGone(dir);
    await rm(dir, { recursive: true, force: true });
  }
});

async function engineUriOf(dataDir: string): Promise<string> {
  return (JSON.parse(await readFile(path.join(dataDir, 'engine.json'), 'utf8')) as { uri: string }).uri;
}

async function withDb<T>(uri: string, use: (db: mongoose.mongo.Db) => Promise<T>): Promise<T> {
  const client = await new mongoose.mongo.MongoClient(uri).connect();
  try {
    return await use(client.db('pulse_crm'));
  } finally {
    await client.close();
  }
}

/** The data folder's engine processes, once they are gone (or what is left after the wait). */
function engineGone(dataDir: string, timeoutMs = 10_000): Promise<number[]> {
  return eventually(
    () => enginePidsFor(dataDir),
    (pids) => pids.length === 0,
    timeoutMs,
  );
}

async function typename(url: string): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"query":"{ __typename }"}',
  });
  return res.json();
}

describe('npm start', () => {
  it('serves the API on the embedded database and stops cleanly on SIGTERM', async () => {
    const dataDir = await freshDataDir();
    const api = start('src/main.ts', { CRM_DATA_DIR: dataDir });
    const [, url] = await api.waitForLine(READY);
    expect(await typename(url!)).toEqual({ data: { __typename: 'Query' } });
    expect((await enginePidsFor(dataDir)).length).toBeGreaterThan(0);
    expect(api.output().stdout.match(/ready at/g)).toHaveLength(1);

    // A live subscriber is completed and its socket closed with 1001 Going Away.
    const token = await login(
      url!.replace(/\/graphql$/, ''),
      TEST_AUTH_ENV.CRM_ADMIN_EMAIL,
      TEST_AUTH_ENV.CRM_ADMIN_PASSWORD,
    );
    const closeCode = new Promise<number>((resolve) => {
      const client = createClient({
        url: url!.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${token}` },
        on: { closed: (e) => resolve((e as { code: number }).code) },
      });
      client.subscribe(
        { query: 'subscription { systemStatus(intervalSeconds: 1) { uptimeSeconds } }' },
        { next: () => api.child.kill('SIGTERM'), error: () => {}, complete: () => {} },
      );
    });

    expect(await api.exited).toEqual({ code: 0, signal: null });
    expect(await closeCode).toBe(1001);
    expect(await engineGone(dataDir, 2_000)).toEqual([]);
  });

  it('leaves no engine behind when the API is killed with SIGKILL', async () => {
    const dataDir = await freshDataDir();
    const api = start('src/main.ts', { CRM_DATA_DIR: dataDir });
    await api.waitForLine(READY);
    expect((await enginePidsFor(dataDir)).length).toBeGreaterThan(0);
    api.child.kill('SIGKILL');
    await api.exited;
    expect(await engineGone(dataDir)).toEqual([]);
  });

  it('keeps acknowledged writes when the API and its engine are killed', async () => {
    const dataDir = await freshDataDir();
    const first = start('src/main.ts', { CRM_DATA_DIR: dataDir });
    await first.waitForLine(READY);
    const engineUri = await engineUriOf(dataDir);
    await withDb(engineUri, (db) =>
      db.collection<{ _id: number }>('crash_probe').insertMany(Array.from({ length: 50 }, (_, i) => ({ _id: i }))),
    );
    // A power cut, as near as a test gets: the engine and the API die with no chance to flush.
    for (const pid of await enginePidsFor(dataDir)) process.kill(pid, 'SIGKILL');
    first.child.kill('SIGKILL');
    await first.exited;
    await engineGone(dataDir);

    const second = start('src/main.ts', { CRM_DATA_DIR: dataDir });
    await second.waitForLine(READY);
    const count = await withDb(await engineUriOf(dataDir), (db) => db.collection('crash_probe').countDocuments());
    expect(count).toBe(50);
  });

  it('refuses a second engine on a data folder in use, naming the MONGODB_URI to share it', async () => {
    const dataDir = await freshDataDir();
    const first = start('src/main.ts', { CRM_DATA_DIR: dataDir });
    await first.waitForLine(READY);
    const second = start('src/main.ts', { CRM_DATA_DIR: dataDir });
    expect((await second.exited).code).toBe(1);
    expect(second.output().stderr).toMatch(
      /already served by a running engine.*MONGODB_URI=mongodb:\/\/127\.0\.0\.1:\d+/s,
    );
  });

  it('exits with a message that says what to do when MONGODB_URI does not answer', async () => {
    const api = start('src/main.ts', { MONGODB_URI: 'mongodb://127.0.0.1:1/', MONGODB_CONNECT_TIMEOUT_MS: '1000' });
    expect((await api.exited).code).toBe(1);
    expect(api.output().stderr).toMatch(
      /Could not connect to the database at mongodb:\/\/127\.0\.0\.1:1\/.*MONGODB_URI/s,
    );
  });

  it('reports invalid configuration by variable name', async () => {
    const api = start('src/main.ts', { PORT: 'eighty' });
    expect((await api.exited).code).toBe(1);
    expect(api.output().stderr).toMatch(/invalid configuration:\n\s+PORT:/);
  });
});

describe('npm run db', () => {
  it('runs the engine alone and prints a MONGODB_URI that several API processes share', async () => {
    const dataDir = await freshDataDir();
    const db = start('src/db/cli.ts', { CRM_DATA_DIR: dataDir });
    const [, uri] = await db.waitForLine(/^MONGODB_URI=(mongodb:\/\/\S+)$/m);
    const apis = [start('src/main.ts', { MONGODB_URI: uri }), start('src/main.ts', { MONGODB_URI: uri })];
    const urls = await Promise.all(apis.map(async (a) => (await a.waitForLine(READY))[1]!));
    for (const url of urls) {
      const token = await login(
        url.replace(/\/graphql$/, ''),
        TEST_AUTH_ENV.CRM_ADMIN_EMAIL,
        TEST_AUTH_ENV.CRM_ADMIN_PASSWORD,
      );
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
        body: '{"query":"{ systemStatus { database { kind isReachable } } }"}',
      });
      expect(await res.json()).toEqual({
        data: { systemStatus: { database: { kind: 'EXTERNAL', isReachable: true } } },
      });
    }
    for (const a of apis) a.child.kill('SIGTERM');
    for (const a of apis) expect((await a.exited).code).toBe(0);
    // The APIs did not own the engine: it still serves until its own process stops.
    expect((await enginePidsFor(dataDir)).length).toBeGreaterThan(0);
    db.child.kill('SIGTERM');
    expect((await db.exited).code).toBe(0);
    expect(await engineGone(dataDir, 2_000)).toEqual([]);
  });
});
