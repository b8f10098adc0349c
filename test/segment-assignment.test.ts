/**
 * A sweep stores its movers' segments in batched conditional writes (`assignSegments`): each
 * customer moves only if it is still as the sweep read it, and the sweep must know exactly which
 * moved (their history says `from` the segment it read) and which changed meanwhile (decided
 * again on their current state) — also when another sweep or an interaction got there first.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mongoose, { Types } from 'mongoose';
import { assignSegments } from '../src/modules/customers/index.js';
import { Customer, type CustomerDoc } from '../src/modules/customers/model.js';

const uri = process.env.MONGODB_URI as string;
const dbName = `test_segment_assignment_${process.pid}`;
const at = new Date('2026-03-01T00:00:00.000Z');

function customer(i: number): CustomerDoc {
  return {
    _id: new Types.ObjectId(),
    code: `SA${String(i).padStart(5, '0')}`,
    name: `Assigned ${i}`,
    tags: [],
    searchKeys: [`assigned ${i}`],
    nameLower: `assigned ${i}`,
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
  };
}

describe('assignSegments', () => {
  beforeAll(async () => {
    await mongoose.connect(uri, { dbName, maxPoolSize: 10, autoIndex: false });
    await mongoose.connection.db!.dropDatabase();
    await Customer.createIndexes();
  });

  afterAll(async () => {
    await mongoose.connection.db!.dropDatabase();
    await mongoose.disconnect();
  });

  async function seed(n: number): Promise<CustomerDoc[]> {
    const docs = Array.from({ length: n }, (_, i) => customer(i));
    await Customer.collection.insertMany(docs as never[]);
    return docs;
  }

  it('moves every customer still as read, in batches of 500, each from the segment read', async () => {
    const seen = await seed(1_200);
    const now = new Date('2026-06-01T00:00:00.000Z');
    const { written, changed } = await assignSegments(
      seen.map((c) => ({ seen: c, segment: 'AT_RISK' })),
      now,
    );
    expect(changed).toEqual([]);
    expect(written).toHaveLength(1_200);
    expect(written.every((w) => w.from === 'NEW' && w.customer.segment === 'AT_RISK')).toBe(true);
    expect(await Customer.countDocuments({ segment: 'AT_RISK', segmentChangedAt: now, updatedAt: now, rev: 1 })).toBe(
      1_200,
    );
    // Each customer returned is the customer as stored.
    expect(await Customer.findById(written[700]!.customer._id).lean()).toEqual(written[700]!.customer);
    await Customer.deleteMany({});
  });

  it('leaves a customer that changed since it was read, and says which moved', async () => {
    const seen = await seed(6);
    const [kept, interacted, movedByOther, deleted, erased, keptToo] = seen as [
      CustomerDoc,
      CustomerDoc,
      CustomerDoc,
      CustomerDoc,
      CustomerDoc,
      CustomerDoc,
    ];
    // Meanwhile: an interaction moved one's aggregates, another writer moved one's segment, one
    // was erased (its record keeps its segment), one is gone.
    await Customer.updateOne({ _id: interacted._id }, { $inc: { rev: 1, interactionCount: 1 } });
    await Customer.updateOne({ _id: movedByOther._id }, { $set: { segment: 'CHURNED' } });
    await Customer.deleteOne({ _id: deleted._id });
    await Customer.updateOne({ _id: erased._id }, { $set: { erasedAt: at } });
    const now = new Date('2026-06-02T00:00:00.000Z');
    const { written, changed } = await assignSegments(
      seen.map((c) => ({ seen: c, segment: 'AT_RISK' })),
      now,
    );
    expect(written.map((w) => String(w.customer._id)).sort()).toEqual([kept, keptToo].map((c) => String(c._id)).sort());
    expect(written.every((w) => w.from === 'NEW')).toBe(true);
    expect(changed.map((c) => [String(c._id), c.segment, c.rev]).sort()).toEqual(
      [
        [String(interacted._id), 'NEW', 1],
        [String(movedByOther._id), 'CHURNED', 0],
        [String(erased._id), 'NEW', 0],
      ].sort(),
    );
    const stored = new Map((await Customer.find().lean<CustomerDoc[]>()).map((c) => [String(c._id), c.segment]));
    expect(Object.fromEntries(stored)).toEqual({
      [String(kept._id)]: 'AT_RISK',
      [String(interacted._id)]: 'NEW',
      [String(movedByOther._id)]: 'CHURNED',
      [String(erased._id)]: 'NEW',
      [String(keptToo._id)]: 'AT_RISK',
    });
    await Customer.deleteMany({});
  });

  it('two sweeps that read the same customers: each customer moves once, for the first', async () => {
    const seen = await seed(300);
    const assignments = seen.map((c) => ({ seen: c, segment: 'AT_RISK' as const }));
    const [first, second] = await Promise.all([
      assignSegments(assignments, new Date('2026-06-03T00:00:00.000Z')),
      assignSegments(assignments, new Date('2026-06-03T00:00:00.001Z')),
    ]);
    expect(first.written.length + second.written.length).toBe(300);
    const movedBy = new Map([...first.written, ...second.written].map((w) => [String(w.customer._id), w]));
    expect(movedBy.size).toBe(300);
    // The loser sees every customer it did not move as changed (now AT_RISK), none twice.
    expect(first.changed.length + second.changed.length).toBe(300);
    expect([...first.changed, ...second.changed].every((c) => c.segment === 'AT_RISK')).toBe(true);
    const stored = await Customer.find().lean<CustomerDoc[]>();
    for (const c of stored)
      expect(c.segmentChangedAt.getTime()).toBe(movedBy.get(String(c._id))!.customer.segmentChangedAt.getTime());
    await Customer.deleteMany({});
  });
});
