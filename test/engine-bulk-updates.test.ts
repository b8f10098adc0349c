/**
 * Patch 0007: the statements of one `update` command (a bulkWrite of updates) that each name one
 * `_id` have their modified documents written together, by one statement per chunk in one
 * transaction, and a multikey table is rewritten by an update only when the array changed.
 * Neither may change a result: a statement still sees what the earlier statements of its own
 * command wrote, the counts are the same, an error leaves the statements before it applied and
 * those after it not, and a query by an array element still finds the document after updates
 * that change the array, its element types, or something else entirely. Patch 0009's triggers
 * check a document's text before parsing it: the arrays they let through are still exactly the
 * field's own.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';

const { ObjectId } = mongoose.mongo;
const uri = process.env.MONGODB_URI as string;
const dbName = `test_engine_bulk_${process.pid}`;

describe('patch 0007: an update command writes its documents together', () => {
  let client: mongoose.mongo.MongoClient;
  let db: mongoose.mongo.Db;

  beforeAll(async () => {
    client = new mongoose.mongo.MongoClient(uri, { maxPoolSize: 20 });
    await client.connect();
    db = client.db(dbName);
    await db.dropDatabase();
  });

  afterAll(async () => {
    await db.dropDatabase();
    await client.close();
  });

  it('writes 500 conditional updates by _id and counts exactly the ones that matched', async () => {
    type Row = { _id: mongoose.Types.ObjectId; rev: number; segment: string };
    const rows = db.collection<Row>('conditional');
    await rows.createIndex({ segment: 1 });
    const ids = Array.from({ length: 500 }, () => new ObjectId());
    await rows.insertMany(ids.map((_id, i) => ({ _id, rev: i % 5 === 0 ? 1 : 0, segment: 'NEW' })));
    const result = await rows.bulkWrite(
      ids.map((_id) => ({
        updateOne: { filter: { _id, rev: 0, segment: 'NEW' }, update: { $set: { segment: 'AT_RISK' } } },
      })),
      { ordered: false },
    );
    expect([result.matchedCount, result.modifiedCount]).toEqual([400, 400]);
    expect(await rows.countDocuments({ segment: 'AT_RISK' })).toBe(400);
    expect(await rows.countDocuments({ segment: 'NEW', rev: 1 })).toBe(100);
  });

  it('a statement sees what the earlier statements of its command wrote', async () => {
    type Row = { _id: string; v?: number; state?: string; tag?: string; done?: boolean };
    const rows = db.collection<Row>('sequenced');
    await rows.insertMany([{ _id: 'a', v: 0 }, { _id: 'b' }, { _id: 'c', state: 'A' }, { _id: 'd' }]);
    const result = await rows.bulkWrite(
      [
        // The same _id three times: each $inc reads the previous one's result.
        { updateOne: { filter: { _id: 'a' }, update: { $inc: { v: 1 } } } },
        { updateOne: { filter: { _id: 'a' }, update: { $inc: { v: 1 } } } },
        { updateOne: { filter: { _id: 'c', state: 'A' }, update: { $set: { state: 'B' } } } },
        { updateOne: { filter: { _id: 'a' }, update: { $inc: { v: 1 } } } },
        // A chain of compare-and-sets on one document.
        { updateOne: { filter: { _id: 'c', state: 'B' }, update: { $set: { state: 'C' } } } },
        { updateOne: { filter: { _id: 'c', state: 'A' }, update: { $set: { state: 'X' } } } },
        // A filter on another field finds a document an earlier statement changed.
        { updateOne: { filter: { _id: 'b' }, update: { $set: { tag: 'new' } } } },
        { updateMany: { filter: { tag: 'new' }, update: { $set: { done: true } } } },
        // An upsert after deferred writes of other documents.
        { updateOne: { filter: { _id: 'd' }, update: { $set: { v: 7 } } } },
        { updateOne: { filter: { _id: 'e' }, update: { $set: { v: 8 } }, upsert: true } },
        { updateOne: { filter: { _id: 'e' }, update: { $inc: { v: 1 } } } },
      ],
      { ordered: true },
    );
    expect(await rows.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'a', v: 3 },
      { _id: 'b', tag: 'new', done: true },
      { _id: 'c', state: 'C' },
      { _id: 'd', v: 7 },
      { _id: 'e', v: 9 },
    ]);
    expect([result.matchedCount, result.modifiedCount, result.upsertedCount]).toEqual([9, 9, 1]);
  });

  it('a statement that fails leaves those before it written and those after it not', async () => {
    type Row = { _id: string; email: string; n?: number };
    const rows = db.collection<Row>('failing');
    await rows.createIndex({ email: 1 }, { unique: true });
    await rows.insertMany([
      { _id: 'a', email: 'a@x' },
      { _id: 'b', email: 'b@x' },
      { _id: 'c', email: 'c@x' },
    ]);
    await expect(
      rows.bulkWrite(
        [
          { updateOne: { filter: { _id: 'a' }, update: { $set: { n: 1 } } } },
          { updateOne: { filter: { _id: 'b' }, update: { $set: { email: 'a@x' } } } },
          { updateOne: { filter: { _id: 'c' }, update: { $set: { n: 1 } } } },
        ],
        { ordered: true },
      ),
    ).rejects.toThrow();
    expect(await rows.find().sort({ _id: 1 }).toArray()).toEqual([
      { _id: 'a', email: 'a@x', n: 1 },
      { _id: 'b', email: 'b@x' },
      { _id: 'c', email: 'c@x' },
    ]);
  });

  it('keeps an array index right through updates that change the array, its types, or neither', async () => {
    const hex = new ObjectId().toHexString();
    type Row = { _id: string; tags: string | string[] | mongoose.Types.ObjectId[]; n: number };
    const rows = db.collection<Row>('arrays');
    await rows.createIndex({ tags: 1 });
    await rows.insertMany([
      { _id: 'p', tags: ['x', 'y'], n: 0 },
      { _id: 'q', tags: [hex], n: 0 },
      { _id: 'r', tags: [], n: 0 },
    ]);
    const holders = async (value: string | mongoose.Types.ObjectId) =>
      (await rows.find({ tags: value }).sort({ _id: 1 }).toArray()).map((d) => d._id);

    // Something else changes: the elements are still found.
    await rows.bulkWrite(
      ['p', 'q', 'r'].map((_id) => ({ updateOne: { filter: { _id }, update: { $inc: { n: 1 } } } })),
    );
    expect([await holders('x'), await holders('y'), await holders(hex)]).toEqual([['p'], ['p'], ['q']]);
    // The array changes.
    await rows.updateOne({ _id: 'p' }, { $set: { tags: ['y', 'z'], n: 2 } });
    await rows.updateOne({ _id: 'r' }, { $set: { tags: ['x'] } });
    expect([await holders('x'), await holders('y'), await holders('z')]).toEqual([['r'], ['p'], ['p']]);
    // Same JSON text, another element type: a string becomes the ObjectId it spells.
    await rows.updateOne({ _id: 'q' }, { $set: { tags: [new ObjectId(hex)] } });
    expect([await holders(hex), await holders(new ObjectId(hex))]).toEqual([[], ['q']]);
    // An array becomes a scalar, and back.
    await rows.updateOne({ _id: 'p' }, { $set: { tags: 'y' } });
    expect(await holders('z')).toEqual([]);
    await rows.updateOne({ _id: 'p' }, { $set: { tags: ['z'] } });
    expect([await holders('y'), await holders('z')]).toEqual([[], ['p']]);
  });

  it('patch 0009: finds the arrays its text check lets through, and only those', async () => {
    // The triggers look for `"tags":[` in a document's text before asking the JSON parser: a
    // nested field of the same name holding an array passes the text check and must still give
    // no entries (a string spelling it is stored with its quotes escaped, and never passes); an
    // array written, changed and removed must give its entries.
    type Row = { _id: string; tags?: unknown; meta?: unknown };
    const rows = db.collection<Row>('text-check');
    await rows.createIndex({ tags: 1 });
    await rows.insertMany([
      { _id: 'array', tags: ['a', 'b'] },
      { _id: 'nested', tags: 'a', meta: { tags: ['b'] } },
      { _id: 'spelled', tags: 'b', meta: '"tags":["a"]' },
      { _id: 'later', meta: { tags: ['a'] } },
    ]);
    const holders = async (value: string) =>
      (await rows.find({ tags: value }).sort({ _id: 1 }).toArray()).map((d) => d._id);
    expect([await holders('a'), await holders('b')]).toEqual([
      ['array', 'nested'],
      ['array', 'spelled'],
    ]);
    await rows.bulkWrite([
      { updateOne: { filter: { _id: 'later' }, update: { $set: { tags: ['a', 'c'] } } } },
      { updateOne: { filter: { _id: 'array' }, update: { $set: { tags: 'c', meta: { tags: ['a'] } } } } },
      { updateOne: { filter: { _id: 'nested' }, update: { $set: { 'meta.tags': ['c'] } } } },
    ]);
    expect([await holders('a'), await holders('b'), await holders('c')]).toEqual([
      ['later', 'nested'],
      ['spelled'],
      ['array', 'later'],
    ]);
    await rows.deleteOne({ _id: 'later' });
    expect([await holders('a'), await holders('c')]).toEqual([['nested'], ['array']]);
  });
});
