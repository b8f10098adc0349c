import mongoose, { Types } from 'mongoose';
import { allInOneBatch } from '../../db/collections.js';
import { Customer, type CustomerDoc } from './model.js';

/** Writes by `_id` per command: the app's bound on the embedded engine. */
const WRITE_BATCH = 500;

/**
 * A write decided on the customer as `seen`: `set` is stored only where the customer is still
 * as seen (same `rev`, which every write of a customer moves, and not erased), and also matches
 * `alsoWhere` when given.
 */
export type GuardedWrite = { seen: CustomerDoc; set: Partial<CustomerDoc>; alsoWhere?: Record<string, unknown> };

/** What became of one write: the customer as stored after it, or, when it did not apply, as stored now (null: gone). */
export type GuardedOutcome = { written: CustomerDoc } | { changed: CustomerDoc | null };

/**
 * Several customers written with one command per 500, each write only where its customer is
 * still as it was read; one outcome per write, in order.
 *
 * A command's result counts its matches, not which write matched. When some did not, the
 * customers are read back: each write also stored the command's own `batchWriteId`, which
 * nothing else writes, so a customer carrying it is one that command wrote.
 */
export async function writeWhereStillAsSeen(writes: GuardedWrite[]): Promise<GuardedOutcome[]> {
  const outcomes: GuardedOutcome[] = [];
  for (let i = 0; i < writes.length; i += WRITE_BATCH) {
    const batch = writes.slice(i, i + WRITE_BATCH);
    const batchWriteId = new Types.ObjectId();
    // Undefined fields are left as stored (the driver would otherwise write them as null).
    const sets = batch.map(({ set }) => ({
      ...Object.fromEntries(Object.entries(set).filter(([, v]) => v !== undefined)),
      batchWriteId,
    }));
    const result = await Customer.collection.bulkWrite(
      batch.map(({ seen, alsoWhere }, k) => ({
        updateOne: {
          filter: { ...alsoWhere, _id: seen._id, rev: seen.rev, erasedAt: null },
          update: { $set: sets[k]!, $inc: { rev: 1 } },
        },
      })),
      { ordered: false },
    );
    const after = (k: number): CustomerDoc => ({ ...batch[k]!.seen, ...sets[k]!, rev: batch[k]!.seen.rev + 1 });
    if (result.matchedCount === batch.length) {
      outcomes.push(...batch.map((_, k) => ({ written: after(k) })));
      continue;
    }
    const current = new Map(
      (
        await Customer.find({ _id: mongoose.trusted({ $in: batch.map((w) => w.seen._id) }) })
          .batchSize(allInOneBatch(batch.length))
          .lean<CustomerDoc[]>()
      ).map((c) => [String(c._id), c]),
    );
    batch.forEach(({ seen }, k) => {
      const stored = current.get(String(seen._id)) ?? null;
      outcomes.push(stored?.batchWriteId?.equals(batchWriteId) ? { written: after(k) } : { changed: stored });
    });
  }
  return outcomes;
}
