/**
 * Upgrades: a database an earlier version left is brought to this version's shapes at start,
 * before traffic, and the migrations that ran are recorded with when and by which version. A
 * migration runs once, even with two processes starting together; one interrupted runs again;
 * a database a newer version upgraded is refused with a message that says what to do.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import type { MigrationLeaseDoc } from '../src/db/migrations/lease.js';
import type { MigrationRecordDoc } from '../src/db/migrations/records.js';
import { runMigrations, type Migration } from '../src/db/migrations/runner.js';
import { createLogger } from '../src/shared/logger.js';
import { projectRoot } from '../src/shared/paths.js';
import { appVersion } from '../src/shared/runtime.js';
import { spawnEntryPoint, type ApiProcess } from './helpers/process.js';
import { login, TEST_AUTH_ENV } from './helpers/server.js';

const SEARCH_KEYS = 'customers.searchKeys.contact-marked';
const CONTACT = '\u0002';
const uri = () => process.env.MONGODB_URI!;

let client: mongoose.mongo.MongoClient;
const databases: string[] = [];
const running = new Set<ApiProcess>();

/** A database of its own for each case, dropped at the end. */
function freshDatabase(label: string): mongoose.mongo.Db {
  const name = `test_migrations_${process.pid}_${label}`;
  databases.push(name);
  return client.db(name);
}

/** A customer as versions before the contact-key marker stored it: e-mail and phone digits as plain keys. */
function customerAsStoredBefore(i: number) {
  const at = new Date('2025-01-01T00:00:00Z');
  const name = `Old Customer ${i}`;
  const code = `C${String(i).padStart(5, '0')}`;
  const email = `old${i}@example.com`;
  const phone = `+8210${10_000_000 + i}`;
  const national = `010${10_000_000 + i}`;
  return {
    doc: {
      _id: new mongoose.Types.ObjectId(),
      code,
      name,
      email,
      phone,
      tags: [],
      searchKeys: [
        name.toLowerCase(),
        'old',
        'customer',
        String(i),
        code.toLowerCase(),
        email,
        phone.slice(1),
        national,
      ],
      nameLower: name.toLowerCase(),
      segment: 'NEW',
      segmentChangedAt: at,
      totalPurchasesMinor: 0,
      purchaseCount: 0,
      interactionCount: 0,
      lastInteractionSortAt: new Date(0),
      activityAt: at,
      joinedAt: at,
      rev: 0,
      createdAt: at,
      updatedAt: at,
    },
    upgradedKeys: [
      name.toLowerCase(),
      'old',
      'customer',
      String(i),
      code.toLowerCase(),
      CONTACT + email,
      CONTACT + phone.slice(1),
      CONTACT + national,
    ],
  };
}

async function seedPreviousShape(db: mongoose.mongo.Db, count: number) {
  const customers = Array.from({ length: count }, (_, i) => customerAsStoredBefore(i + 1));
  await db.collection('customers').insertMany(customers.map((c) => c.doc));
  return customers;
}

async function searchKeysById(db: mongoose.mongo.Db): Promise<Map<string, string[]>> {
  const docs = await db.collection<{ searchKeys: string[] }>('customers').find({}).toArray();
  return new Map(docs.map((d) => [String(d._id), d.searchKeys]));
}

/** `npm start` on that database, with info logs (the migration lines) on stdout. */
function spawnApi(db: mongoose.mongo.Db): ApiProcess {
  const api = spawnEntryPoint('src/main.ts', { MONGODB_URI: uri(), MONGODB_DB: db.databaseName, LOG_LEVEL: 'info' });
  running.add(api);
  return api;
}

async function ready(api: ApiProcess): Promise<string> {
  return (await api.waitForLine(/ready at (http:\/\/\S+)\n/, 90_000))[1]!;
}

async function stop(api: ApiProcess): Promise<void> {
  api.child.kill('SIGTERM');
  const { code, signal } = await api.exited;
  if (code !== 0) {
    const { stdout, stderr } = api.output();
    throw new Error(
      `the API exited with ${code ?? signal} on SIGTERM:\n${stdout.split('\n').slice(-30).join('\n')}\n${stderr}`,
    );
  }
  running.delete(api);
}

const recordsIn = (db: mongoose.mongo.Db) => db.collection<MigrationRecordDoc>('migrations');
const leaseIn = (db: mongoose.mongo.Db) => db.collection<MigrationLeaseDoc>('migration_lease');

/** `npm run db:migrations` on that database: what it records, as an operator reads it. */
async function migrationStatus(db: mongoose.mongo.Db): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'src/app/migrations/cli.ts'], {
    cwd: projectRoot,
    env: { ...process.env, NODE_OPTIONS: undefined, MONGODB_URI: uri(), MONGODB_DB: db.databaseName },
  });
  return stdout;
}

const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, 'g'))?.length ?? 0;

beforeAll(async () => {
  client = await mongoose.mongo.MongoClient.connect(uri());
});

afterAll(async () => {
  for (const api of running)
    if (api.child.exitCode === null && api.child.signalCode === null) api.child.kill('SIGKILL');
  await Promise.all([...running].map((api) => api.exited));
  for (const name of databases) await client.db(name).dropDatabase();
  await client.close();
});

describe('upgrading a database an earlier version left', () => {
  it('rewrites the old shapes at start, records the migration, and does not run it again', async () => {
    const db = freshDatabase('previous');
    const customers = await seedPreviousShape(db, 30);
    const first = spawnApi(db);
    const url = await ready(first);

    const keys = await searchKeysById(db);
    for (const c of customers) expect(keys.get(String(c.doc._id))).toEqual(c.upgradedKeys);
    const record = await recordsIn(db).findOne({ _id: SEARCH_KEYS });
    expect(record).toMatchObject({ appVersion, ranAt: expect.any(Date), startedAt: expect.any(Date) });
    expect(await leaseIn(db).countDocuments()).toBe(0);
    // Served from the upgraded keys: the admin finds a customer by a prefix of its e-mail.
    const token = await login(
      url.replace('/graphql', ''),
      TEST_AUTH_ENV.CRM_ADMIN_EMAIL,
      TEST_AUTH_ENV.CRM_ADMIN_PASSWORD,
    );
    const found = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: '{ customers(first: 5, filter: { search: "old7@exa" }) { edges { node { name } } } }',
      }),
    });
    expect(await found.json()).toEqual({ data: { customers: { edges: [{ node: { name: 'Old Customer 7' } }] } } });
    await stop(first);
    expect(await migrationStatus(db)).toMatch(
      new RegExp(
        `done +${SEARCH_KEYS.replace(/\./g, '\\.')} +${record!.ranAt!.toISOString()} by version ${appVersion}`,
      ),
    );

    // A customer put back in the old shape stays so: the second start runs nothing.
    const sentinel = customers[0]!.doc;
    await db.collection('customers').updateOne({ _id: sentinel._id }, { $set: { searchKeys: sentinel.searchKeys } });
    const second = spawnApi(db);
    await ready(second);
    expect((await searchKeysById(db)).get(String(sentinel._id))).toEqual(sentinel.searchKeys);
    expect(await recordsIn(db).findOne({ _id: SEARCH_KEYS })).toEqual(record);
    expect(count(second.output().stdout, /data migration started/)).toBe(0);
    await stop(second);
  }, 180_000);

  it("counts the earlier version's upgrade marker as the migration having run", async () => {
    const db = freshDatabase('marker');
    const customers = await seedPreviousShape(db, 3);
    const marker = { _id: SEARCH_KEYS, at: new Date('2025-02-01T00:00:00Z') };
    await recordsIn(db).insertOne(marker);
    const api = spawnApi(db);
    await ready(api);
    expect(count(api.output().stdout, /data migration started/)).toBe(0);
    const keys = await searchKeysById(db);
    for (const c of customers) expect(keys.get(String(c.doc._id))).toEqual(c.doc.searchKeys);
    expect(await recordsIn(db).find({}).toArray()).toEqual([marker]);
    await stop(api);
  }, 120_000);

  it('runs a migration interrupted by a crash again, taking over the lease the crashed process left', async () => {
    const db = freshDatabase('interrupted');
    const customers = await seedPreviousShape(db, 40);
    // Halfway: the first customers rewritten, the migration begun but not finished, and the
    // lease of the process that crashed still there, no longer renewed.
    for (const c of customers.slice(0, 20))
      await db.collection('customers').updateOne({ _id: c.doc._id }, { $set: { searchKeys: c.upgradedKeys } });
    const crashedAt = new Date(Date.now() - 60_000);
    await recordsIn(db).insertOne({ _id: SEARCH_KEYS, startedAt: crashedAt, appVersion, owner: 'crashed:1:0' });
    await leaseIn(db).insertOne({
      _id: 'migrations',
      owner: 'crashed:1:0',
      appVersion,
      takenAt: crashedAt,
      until: new Date(crashedAt.getTime() + 30_000),
    });

    const api = spawnApi(db);
    await ready(api);
    const keys = await searchKeysById(db);
    for (const c of customers) expect(keys.get(String(c.doc._id))).toEqual(c.upgradedKeys);
    expect(await recordsIn(db).findOne({ _id: SEARCH_KEYS })).toMatchObject({
      ranAt: expect.any(Date),
      appVersion,
    });
    const { stdout } = api.output();
    expect(stdout).toMatch(/took over the migration lease of a process that stopped renewing it/);
    expect(stdout).toMatch(/data migration interrupted; it runs again/);
    expect(count(stdout, /"changed":20\b/)).toBe(1);
    await stop(api);
  }, 120_000);

  it('refuses a database a newer version upgraded: exit 1 before traffic, with what to do, nothing changed', async () => {
    const db = freshDatabase('newer');
    const customers = await seedPreviousShape(db, 3);
    await recordsIn(db).insertMany([
      { _id: SEARCH_KEYS, startedAt: new Date('2025-03-01'), ranAt: new Date('2025-03-01'), appVersion: '9.0.0' },
      {
        _id: 'interactions.amount.minor-units',
        startedAt: new Date('2025-03-01'),
        ranAt: new Date('2025-03-01'),
        appVersion: '9.0.0',
      },
    ]);
    const api = spawnApi(db);
    const exit = await api.exited;
    running.delete(api);
    expect(exit.code).not.toBe(0);
    const { stdout, stderr } = api.output();
    expect(stdout).not.toMatch(/ready at/);
    expect(stderr).toMatch(/upgraded by a newer version of Pulse CRM/);
    expect(stderr).toMatch(/"interactions\.amount\.minor-units" \(run 2025-03-01T00:00:00\.000Z by version 9\.0\.0\)/);
    expect(stderr).toMatch(new RegExp(`this version \\(${appVersion.replace(/\./g, '\\.')}\\) does not know`));
    expect(stderr).toMatch(/Run Pulse CRM 9\.0\.0 or newer on this database/);
    // Not a write: the old shapes, no admin, no lease.
    const keys = await searchKeysById(db);
    for (const c of customers) expect(keys.get(String(c.doc._id))).toEqual(c.doc.searchKeys);
    expect(await db.collection('users').countDocuments()).toBe(0);
    expect(await leaseIn(db).countDocuments()).toBe(0);
    expect(await migrationStatus(db)).toMatch(
      /interactions\.amount\.minor-units .* by version 9\.0\.0 +← unknown to .*: a newer version upgraded this database/,
    );
  }, 120_000);

  it('runs each migration once when two processes start together on one database', async () => {
    const db = freshDatabase('together');
    const customers = await seedPreviousShape(db, 2_000);
    const apis = [spawnApi(db), spawnApi(db)];
    await Promise.all(apis.map(ready));
    const stdout = apis.map((a) => a.output().stdout).join('\n');
    expect(count(stdout, /data migration started/)).toBe(1);
    expect(count(stdout, /"changed":2000\b/)).toBe(1);
    const keys = await searchKeysById(db);
    for (const c of customers) expect(keys.get(String(c.doc._id))).toEqual(c.upgradedKeys);
    expect(await recordsIn(db).countDocuments()).toBe(1);
    await Promise.all(apis.map(stop));
  }, 180_000);
});

describe('the migration runner', () => {
  const logger = createLogger('silent');

  beforeAll(async () => {
    const db = freshDatabase('runner');
    await connectDatabase({ uri: uri(), dbName: db.databaseName, maxPoolSize: 10 });
  });

  afterAll(async () => {
    await disconnectDatabase();
  });

  beforeEach(async () => {
    await recordsIn(mongoose.connection.db!).deleteMany({});
  });

  it('lets one of two concurrent runs apply a migration while the other waits for it', async () => {
    let runs = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    let started!: () => void;
    const isStarted = new Promise<void>((resolve) => (started = resolve));
    const migrations: Migration[] = [
      {
        name: 'test.slow.once',
        up: async () => {
          runs += 1;
          started();
          await finished;
        },
      },
    ];
    const timing = { leaseMs: 1_000, pollMs: 20 };
    const first = runMigrations(migrations, { logger, timing });
    await isStarted;
    let isSecondDone = false;
    const second = runMigrations(migrations, { logger, timing }).then((ran) => {
      isSecondDone = true;
      return ran;
    });
    // Longer than the lease: the holder renews it, so the other keeps waiting.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(isSecondDone).toBe(false);
    finish();
    const ran = await Promise.all([first, second]);
    expect(ran.sort()).toEqual([[], ['test.slow.once']]);
    expect(runs).toBe(1);
  });

  it('leaves a migration that failed pending, and the ones after it, for the next start', async () => {
    let attempts = 0;
    const migrations: Migration[] = [
      {
        name: 'test.flaky.second-time',
        up: async () => {
          attempts += 1;
          if (attempts === 1) throw new Error('the database went away');
        },
      },
      { name: 'test.after.flaky', up: async () => {} },
    ];
    await expect(runMigrations(migrations, { logger })).rejects.toThrow(/test\.flaky\.second-time.*went away/s);
    const records = recordsIn(mongoose.connection.db!);
    expect(await records.findOne({ _id: 'test.flaky.second-time' })).toMatchObject({
      startedAt: expect.any(Date),
    });
    expect(await records.findOne({ _id: 'test.flaky.second-time' })).not.toHaveProperty('ranAt');
    expect(await records.findOne({ _id: 'test.after.flaky' })).toBeNull();
    expect(await runMigrations(migrations, { logger })).toEqual(['test.flaky.second-time', 'test.after.flaky']);
    expect(attempts).toBe(2);
  });
});
