/**
 * The embedded engine answers filters and sorts from indexes (patch 0006). Pushing a query down
 * must never change its result, so this test runs thousands of seeded random queries against two
 * engines holding the same data: the suite's engine, and the same binary started with FerretDB's
 * own `--test-disable-pushdown` switch, which reads and filters every document in Go. Both must
 * answer every query identically, in identical order, and count identically. The data mixes what
 * makes pushdown hard: int32, int64 and doubles of equal value, strings that differ in a trailing
 * character or a Unicode form, negative and positive dates, ObjectIds, booleans, nulls, missing
 * fields and, in one collection, arrays, documents, binData and timestamps in indexed fields.
 *
 * The query generator is seeded (PUSHDOWN_SEED picks another run); a failure prints the seed, the
 * query and both answers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { startFerretDb, type RunningEngine } from '../src/db/ferretdb/engine.js';
import { seededRandom } from '../src/shared/prng.js';

const { MongoClient, ObjectId, Long, Double, Binary, Timestamp, BSON } = mongoose.mongo;
type Db = mongoose.mongo.Db;
type Doc = mongoose.mongo.Document;

const SEED = Number(process.env.PUSHDOWN_SEED ?? 20261129);
const DOCS = 400;
const QUERIES = 600;

const STRINGS = [
  '',
  'a',
  'A',
  'ab',
  'ab!',
  'ab ',
  'abc',
  'b',
  'é',
  'e\u0301',
  '가나다',
  '가',
  '😀',
  'x"y',
  'x\\y',
  '<&>',
  'tab\tx',
  'Z',
];
const INDEXES: Array<Record<string, 1 | -1>> = [
  { g: 1, n: -1, _id: -1 },
  { n: 1 },
  { s: 1, _id: 1 },
  { d: -1, _id: -1 },
  { o: 1 },
  { b: 1, d: 1 },
  { t: 1 },
];
const SORTS: Array<Record<string, 1 | -1> | null> = [
  null,
  { n: 1, _id: 1 },
  { n: -1, _id: -1 },
  { s: 1, _id: 1 },
  { s: -1, _id: -1 },
  { d: -1, _id: -1 },
  { d: 1, _id: 1 },
  { g: 1, n: -1, _id: -1 },
  { g: -1, n: 1, _id: 1 },
  { b: 1, d: 1 },
  { _id: 1 },
];

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;

function number(r: Rand): unknown {
  const base = pick(r, [-3, -1, 0, 1, 2, 2.5, 3, 10, 100, 2 ** 40, -(2 ** 31)]);
  switch (Math.floor(r() * 3)) {
    case 0:
      return Number.isInteger(base) && Math.abs(base) < 2 ** 31 ? base : new Double(base);
    case 1:
      return Number.isInteger(base) ? Long.fromNumber(base) : new Double(base);
    default:
      return new Double(base);
  }
}
const date = (r: Rand) =>
  new Date(pick(r, [-86_400_000 * 400, -1, 0, 1, 1_700_000_000_000, 1_700_000_000_001, 1_800_000_000_000]));
const oid = (r: Rand) =>
  new ObjectId(
    pick(r, [
      '0000000000000000000000a1',
      '65f000000000000000000001',
      '65f000000000000000000002',
      'ffffffffffffffffffffff00',
    ]),
  );

/** A value for one field: mostly of the field's type, sometimes null or missing, and in the odd collection anything. */
function value(r: Rand, field: string, odd: boolean): unknown {
  const x = r();
  if (x < 0.05) return undefined;
  if (x < 0.09) return null;
  if (odd && x < 0.16) {
    return pick(r, [
      [number(r), number(r)],
      [pick(r, STRINGS)],
      // Every element type the multikey table keys, in one array (each element's type is looked
      // up by its position in the document's schema).
      [date(r), oid(r), r() < 0.5, { k: number(r) }, number(r), pick(r, STRINGS)],
      [],
      { k: number(r) },
      new Binary(Buffer.from([1, 2, Math.floor(r() * 255)])),
      new Timestamp({ t: 1 + Math.floor(r() * 5), i: 1 }),
      number(r),
      pick(r, STRINGS),
    ]);
  }
  switch (field) {
    case 'g':
      return pick(r, ['vip', 'loyal', 'new']);
    case 'n':
      return number(r);
    case 's':
      return pick(r, STRINGS);
    case 'd':
      return date(r);
    case 'o':
      return oid(r);
    case 'b':
      return r() < 0.5;
    case 't':
      return r() < 0.5 ? [pick(r, ['red', 'blue']), pick(r, ['green', 'red'])] : pick(r, ['red', 'blue']);
    default:
      throw new Error(field);
  }
}

function makeDocs(r: Rand, odd: boolean, arraysOnly = false): Doc[] {
  const docs: Doc[] = [];
  for (let i = 0; i < DOCS; i++) {
    const doc: Doc = { _id: odd && i % 7 === 0 ? `id-${pick(r, STRINGS)}-${i}` : new ObjectId() };
    for (const f of ['g', 'n', 's', 'd', 'o', 'b', 't']) {
      const v = value(r, f, odd);
      // In one collection `t` is always an array, as the app's tags and search keys are: the
      // engine may then answer from the multikey table alone.
      if (arraysOnly && f === 't') doc[f] = Array.isArray(v) ? v : v === undefined || v === null ? [] : [v];
      else if (v !== undefined) doc[f] = v;
    }
    docs.push(doc);
  }
  return docs;
}

/** A random condition on one field, using values that occur in the data and some that do not. */
function condition(r: Rand, docs: Doc[]): Doc {
  const field = pick(r, ['g', 'n', 's', 'd', 'o', 'b', 't', 'n', 's', 'd']);
  const sample = () => {
    const v = pick(r, docs)[field];
    return v === undefined || r() < 0.15 ? (value(r, field, false) ?? 1) : v;
  };
  const text = () => {
    const v = sample();
    return typeof v === 'string' ? v : pick(r, STRINGS);
  };
  switch (Math.floor(r() * 10)) {
    case 7: {
      // an anchored prefix, as a string pattern or a BSON regex, sometimes with a quantifier or options
      const t = text();
      const prefix = t.slice(0, 1 + Math.floor(r() * Math.max(1, t.length))).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      const pattern = `^${prefix}${pick(r, ['', '', '.*', '?', 'x*', '|z'])}`;
      const form = r();
      if (form < 0.4) return { [field]: { $regex: pattern, ...(r() < 0.2 ? { $options: 'i' } : {}) } };
      if (form < 0.7) return { [field]: new BSON.BSONRegExp(pattern) };
      // a regex value beside a range in one operator document: only the range can be pushed
      return { [field]: { $regex: new BSON.BSONRegExp(pattern), $gte: sample() } };
    }
    case 8:
      return { [field]: { $all: [sample(), ...(r() < 0.5 ? [sample()] : [])] } };
    case 9:
      return {
        $or: [
          { [field]: sample() },
          { [field]: { [pick(r, ['$gt', '$lt'])]: sample() } },
          ...(r() < 0.5
            ? [
                {
                  [field]: {
                    $regex: `^${text()
                      .slice(0, 1)
                      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`,
                  },
                },
              ]
            : []),
        ],
      };
    case 0:
      return { [field]: sample() };
    case 1:
      return { [field]: { $eq: sample() } };
    case 2:
      return { [field]: { $in: [sample(), sample(), ...(r() < 0.3 ? [sample()] : [])] } };
    case 3:
      return { [field]: { [pick(r, ['$gt', '$gte', '$lt', '$lte'])]: sample() } };
    case 4:
      return { [field]: { $gte: sample(), $lt: sample() } };
    case 5:
      return pick(r, [
        { [field]: { $ne: sample() } },
        { [field]: { $exists: r() < 0.5 } },
        { [field]: { $type: pick(r, ['string', 'double', 'array']) } },
      ]);
    default:
      return { $and: [condition(r, docs), condition(r, docs)] };
  }
}

function query(r: Rand, docs: Doc[]) {
  const filter: Doc = {};
  const n = Math.floor(r() * 4);
  const conds: Doc[] = [];
  for (let i = 0; i < n; i++) conds.push(condition(r, docs));
  if (conds.length > 1 && r() < 0.3) filter.$and = conds;
  else for (const c of conds) Object.assign(filter, c);
  return {
    filter,
    sort: pick(r, SORTS),
    skip: r() < 0.2 ? Math.floor(r() * 5) : 0,
    limit: pick(r, [0, 0, 1, 5, 21, 50]),
  };
}

const bytes = (docs: Doc[]) => docs.map((d) => Buffer.from(BSON.serialize(d)).toString('base64'));
const show = (q: unknown) => BSON.EJSON.stringify(q as Doc, { relaxed: false });

describe('index-backed queries (engine patch 0006)', () => {
  let reference: RunningEngine;
  let referenceDir: string;
  let pushed: mongoose.mongo.MongoClient;
  let plain: mongoose.mongo.MongoClient;
  let dbA: Db;
  let dbB: Db;
  const dbName = `test_pushdown_${process.pid}`;

  beforeAll(async () => {
    const binary = process.env.PULSE_TEST_ENGINE_BINARY;
    if (!binary) throw new Error('PULSE_TEST_ENGINE_BINARY is set by the global setup');
    referenceDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-nopushdown-'));
    reference = await startFerretDb({ binary, dataDir: referenceDir, extraArgs: ['--test-disable-pushdown'] });
    pushed = await new MongoClient(process.env.MONGODB_URI as string, { bsonRegExp: true }).connect();
    plain = await new MongoClient(reference.uri, { bsonRegExp: true }).connect();
    dbA = pushed.db(dbName);
    dbB = plain.db(dbName);
  });

  afterAll(async () => {
    await dbA?.dropDatabase().catch(() => {});
    await pushed?.close();
    await plain?.close();
    await reference?.stop();
    await rm(referenceDir, { recursive: true, force: true });
  });

  async function load(name: string, odd: boolean, seed: number, arraysOnly = false) {
    const docs = makeDocs(seededRandom(seed), odd, arraysOnly);
    for (const db of [dbA, dbB]) {
      const coll = db.collection(name);
      for (const key of INDEXES) await coll.createIndex(key);
      await coll.insertMany(docs, { ordered: true });
    }
    return docs;
  }

  async function compare(name: string, docs: Doc[], seed: number) {
    const r = seededRandom(seed);
    let indexed = 0;
    let sortedByIndex = 0;
    for (let i = 0; i < QUERIES; i++) {
      const q = query(r, docs);
      const run = (db: Db) => {
        let c = db.collection(name).find(q.filter);
        if (q.sort) c = c.sort(q.sort);
        if (q.skip) c = c.skip(q.skip);
        if (q.limit) c = c.limit(q.limit);
        return c.toArray().then(
          (docs) => {
            // MongoDB leaves the order of ties open: for a sort that does not end with _id, the
            // sequence of sort keys must agree, and with no skip or limit the set of documents too.
            if (!q.sort || '_id' in q.sort) return bytes(docs);
            const keys = docs.map((d) => Object.keys(q.sort as Doc).map((k) => d[k]));
            return { keys: bytes(keys.map((k) => ({ k }))), set: q.skip || q.limit ? [] : bytes(docs).sort() };
          },
          (err: Error) => `error: ${err.message}`,
        );
      };
      const [a, b] = await Promise.all([run(dbA), run(dbB)]);
      const label = `seed ${SEED}, query ${i}: ${show(q)}`;
      expect({ label, docs: a }).toEqual({ label, docs: b });
      if (i % 4 === 0) {
        const [ca, cb] = await Promise.all([
          dbA.collection(name).countDocuments(q.filter),
          dbB.collection(name).countDocuments(q.filter),
        ]);
        expect({ label, count: ca }).toEqual({ label, count: cb });
      }
      {
        const plan = await dbA.command(
          {
            explain: { find: name, filter: q.filter, ...(q.sort ? { sort: q.sort } : {}) },
          },
          { bsonRegExp: true },
        );
        if (JSON.stringify(plan.queryPlanner).includes('USING INDEX')) indexed++;
        if (plan.sortPushdown) sortedByIndex++;
      }
    }
    return { indexed, sortedByIndex };
  }

  /** Random updates and deletes, the same on both engines: the indexes and multikey tables must follow. */
  async function mutate(name: string, docs: Doc[], seed: number) {
    const r = seededRandom(seed);
    for (let i = 0; i < 150; i++) {
      const target = pick(r, docs);
      const field = pick(r, ['g', 'n', 's', 'd', 'o', 'b', 't']);
      const v = value(r, field, true);
      const op =
        r() < 0.1
          ? (c: mongoose.mongo.Collection) => c.deleteOne({ _id: target._id })
          : (c: mongoose.mongo.Collection) =>
              c.updateOne({ _id: target._id }, v === undefined ? { $unset: { [field]: 1 } } : { $set: { [field]: v } });
      await op(dbA.collection(name));
      await op(dbB.collection(name));
    }
    await Promise.all(
      [dbA, dbB].map((db) => db.collection(name).updateMany({ g: 'new' }, { $set: { t: ['red', 'new'] } })),
    );
  }

  it('answers random queries exactly as the engine without pushdown, on well-typed data', async () => {
    const docs = await load('clean', false, SEED);
    const { indexed, sortedByIndex } = await compare('clean', docs, SEED + 1);
    // The test is only worth something if the indexes were really used.
    expect(indexed / QUERIES).toBeGreaterThan(0.3);
    expect(sortedByIndex / QUERIES).toBeGreaterThan(0.03);
  });

  it('answers random queries exactly as the engine without pushdown, with arrays and odd types in indexed fields', async () => {
    const docs = await load('odd', true, SEED + 2);
    await compare('odd', docs, SEED + 3);
  });

  it('answers random queries exactly as the engine without pushdown, with an array in every document', async () => {
    const docs = await load('arrays', false, SEED + 7, true);
    await compare('arrays', docs, SEED + 8);
  });

  it('still answers exactly after random updates and deletes', async () => {
    const docs = await load('changing', false, SEED + 4);
    await mutate('changing', docs, SEED + 5);
    await compare('changing', docs, SEED + 6);
  });
});
