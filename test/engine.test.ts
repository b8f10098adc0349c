/**
 * What the rest of the project relies on from the database, checked over the wire against
 * the embedded engine, including one regression test per engine patch. Each of the
 * patch tests fails on an engine built without that patch (an unpatched FerretDB v1.24.2 fails them all):
 *   CRM_FERRETDB_BIN=/path/to/unpatched/ferretdb npx jest test/engine.test.ts
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mongoose, { Schema } from 'mongoose';

const uri = process.env.MONGODB_URI as string;
const dbName = `test_engine_${process.pid}`;

type Counter = { _id: string; v: number };

describe('the database engine', () => {
  let client: mongoose.mongo.MongoClient;
  let db: mongoose.mongo.Db;

  beforeAll(async () => {
    await mongoose.connect(uri, { dbName, maxPoolSize: 20, autoIndex: false });
    // A second, larger pool: the update deadlock only shows with many connections at once.
    client = new mongoose.mongo.MongoClient(uri, { maxPoolSize: 200 });
    await client.connect();
    db = client.db(dbName);
    await db.dropDatabase();
  });

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
    await mongoose.disconnect();
  });

  it('connects with mongoose 9 and does CRUD through a model', async () => {
    const Person = mongoose.model('Person', new Schema({ name: { type: String, required: true }, age: Number }));
    const created = await Person.create({ name: 'Kim Minji', age: 31 });
    expect((await Person.findById(created._id).lean())?.name).toBe('Kim Minji');
    await Person.updateOne({ _id: created._id }, { $set: { age: 32 } });
    expect((await Person.findById(created._id).lean())?.age).toBe(32);
    await Person.deleteOne({ _id: created._id });
    expect(await Person.findById(created._id)).toBeNull();
  });

  it('creates a unique index and reports a duplicate key as code 11000', async () => {
    const Account = mongoose.model('Account', new Schema({ email: { type: String, unique: true } }));
    await Account.createIndexes();
    await Account.create({ email: 'a@example.com' });
    await expect(Account.create({ email: 'a@example.com' })).rejects.toMatchObject({ code: 11000 });
    expect(await Account.countDocuments({ email: 'a@example.com' })).toBe(1);
  });

  it('findOneAndUpdate with $inc returns the new value', async () => {
    const counters = db.collection<Counter>('counters_single');
    const first = await counters.findOneAndUpdate(
      { _id: 'seq' },
      { $inc: { v: 1 } },
      { upsert: true, returnDocument: 'after' },
    );
    const second = await counters.findOneAndUpdate({ _id: 'seq' }, { $inc: { v: 1 } }, { returnDocument: 'after' });
    expect([first?.v, second?.v]).toEqual([1, 2]);
  });

  describe('patch 0001: read-modify-write is atomic', () => {
    it('300 concurrent $inc on one document end at exactly 300', async () => {
      const counters = db.collection<Counter>('counters_inc');
      await counters.insertOne({ _id: 'c', v: 0 });
      await Promise.all(Array.from({ length: 300 }, () => counters.updateOne({ _id: 'c' }, { $inc: { v: 1 } })));
      expect((await counters.findOne({ _id: 'c' }))?.v).toBe(300);
    });

    it('200 concurrent counter allocations with findOneAndUpdate give 200 distinct values', async () => {
      const counters = db.collection<Counter>('counters_alloc');
      await counters.insertOne({ _id: 'seq', v: 0 });
      const values = await Promise.all(
        Array.from(
          { length: 200 },
          async () =>
            (await counters.findOneAndUpdate({ _id: 'seq' }, { $inc: { v: 1 } }, { returnDocument: 'after' }))?.v,
        ),
      );
      expect(new Set(values).size).toBe(200);
      expect(Math.max(...(values as number[]))).toBe(200);
    });
  });

  describe('patch 0002: updates never deadlock the connection pool', () => {
    it('a 500-operation bulkWrite completes and applies every update', async () => {
      const docs = db.collection<{ _id: number; n: number }>('bulk');
      await docs.insertMany(Array.from({ length: 500 }, (_, i) => ({ _id: i, n: 0 })));
      const res = await docs.bulkWrite(
        Array.from({ length: 500 }, (_, i) => ({ updateOne: { filter: { _id: i }, update: { $inc: { n: i } } } })),
        { ordered: false },
      );
      expect(res.modifiedCount).toBe(500);
      const sum = await docs.aggregate<{ total: number }>([{ $group: { _id: null, total: { $sum: '$n' } } }]).toArray();
      expect(sum[0]?.total).toBe((499 * 500) / 2);
    });

    it('400 concurrent updates over a 200-connection pool all complete', async () => {
      const docs = db.collection<{ _id: number; touched: boolean }>('concurrent');
      await docs.insertMany(Array.from({ length: 400 }, (_, i) => ({ _id: i, touched: false })));
      const results = await Promise.all(
        Array.from({ length: 400 }, (_, i) => docs.updateOne({ _id: i }, { $set: { touched: true } })),
      );
      expect(results.reduce((n, r) => n + r.modifiedCount, 0)).toBe(400);
      expect(await docs.countDocuments({ touched: true })).toBe(400);
    });
  });

  describe('patch 0003: $group feeds every accumulator', () => {
    it('an aggregate with $match and two $sum accumulators counts and sums per group', async () => {
      const sales = db.collection<{ s: string; v: number; ok: boolean }>('sales');
      await sales.insertMany([
        { s: 'a', v: 10, ok: true },
        { s: 'a', v: 20, ok: true },
        { s: 'b', v: 5, ok: true },
        { s: 'b', v: 7, ok: false },
      ]);
      const rows = await sales
        .aggregate<{ _id: string; n: number; t: number }>([
          { $match: { ok: true } },
          { $group: { _id: '$s', n: { $sum: 1 }, t: { $sum: '$v' } } },
          { $sort: { _id: 1 } },
        ])
        .toArray();
      expect(rows).toEqual([
        { _id: 'a', n: 2, t: 30 },
        { _id: 'b', n: 1, t: 5 },
      ]);
    });
  });

  describe('patch 0004: lookups by _id use the _id index', () => {
    it('a find by _id searches the index instead of scanning the collection', async () => {
      const docs = db.collection<{ _id: mongoose.Types.ObjectId; n: number }>('by_id');
      const ids = Array.from({ length: 50 }, () => new mongoose.Types.ObjectId());
      await docs.insertMany(ids.map((_id, n) => ({ _id, n })));
      // The same WHERE clause serves find, update and delete by _id.
      const explained = await db.command({ explain: { find: 'by_id', filter: { _id: ids[42] } } });
      const plan = JSON.stringify(explained.queryPlanner);
      expect(plan).toMatch(/SEARCH \S+ USING INDEX/);
      expect(plan).not.toMatch(/detail=SCAN/);
      expect((await docs.findOne({ _id: ids[42] }))?.n).toBe(42);
      expect((await docs.updateOne({ _id: ids[7] }, { $set: { n: -7 } })).modifiedCount).toBe(1);
      expect((await docs.findOne({ _id: ids[7] }))?.n).toBe(-7);
    });
  });

  describe('patch 0005: an _id equality narrows a filter with other conditions too', () => {
    it('a compare-and-set by _id and state searches the index and still checks every condition', async () => {
      const docs = db.collection<{ _id: string; state: string; n: number }>('cas_by_id');
      await docs.insertMany(Array.from({ length: 50 }, (_, n) => ({ _id: `d${n}`, state: 'A', n })));
      const explained = await db.command({ explain: { find: 'cas_by_id', filter: { _id: 'd42', state: 'A' } } });
      const plan = JSON.stringify(explained.queryPlanner);
      expect(plan).toMatch(/SEARCH \S+ USING INDEX/);
      expect(plan).not.toMatch(/detail=SCAN/);
      // The other conditions are still applied to the one row found.
      expect(await docs.findOne({ _id: 'd42', state: 'B' })).toBeNull();
      expect((await docs.findOne({ _id: 'd42', state: 'A', n: { $gte: 42 } }))?.n).toBe(42);
      expect((await docs.updateOne({ _id: 'd7', state: 'B' }, { $set: { n: -1 } })).modifiedCount).toBe(0);
      expect((await docs.updateOne({ _id: 'd7', state: 'A' }, { $set: { state: 'B' } })).modifiedCount).toBe(1);
      expect((await docs.updateOne({ _id: 'd7', state: 'A' }, { $set: { state: 'C' } })).modifiedCount).toBe(0);
      expect(await docs.findOneAndUpdate({ _id: 'd8', state: 'Z' }, { $set: { n: 0 } })).toBeNull();
      expect((await docs.deleteOne({ _id: 'd9', state: 'B' })).deletedCount).toBe(0);
      expect(await docs.countDocuments({ _id: 'd9', state: 'A' })).toBe(1);
    });
  });
});
