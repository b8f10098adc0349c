import mongoose, { Schema } from 'mongoose';

type CounterDoc = { _id: string; seq: number };

const Counter = mongoose.model<CounterDoc>(
  'Counter',
  new Schema<CounterDoc>(
    { _id: String, seq: { type: Number, required: true } },
    { versionKey: false, collection: 'counters' },
  ),
);

/**
 * Allocates `count` numbers from a named sequence and returns the last one (the range is
 * last-count+1 … last). One atomic `$inc` by `_id`: exact under concurrency on MongoDB, and on
 * the embedded engine thanks to patch 0001.
 */
export async function nextSequence(name: string, count = 1): Promise<number> {
  const doc = await Counter.findOneAndUpdate(
    { _id: name },
    { $inc: { seq: count } },
    { upsert: true, returnDocument: 'after' },
  ).lean();
  return doc!.seq;
}

/** The last number allocated so far (0 when none). */
export async function currentSequence(name: string): Promise<number> {
  return (await Counter.findById(name).lean())?.seq ?? 0;
}
