import mongoose, { Types } from 'mongoose';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';
import { Customer, type CustomerDoc } from './model.js';

/**
 * The segment stored on each customer. The segments domain decides it (policy, history,
 * counts); the customer document is written here only.
 */

/**
 * Stores a customer's segment, by `_id` (the embedded engine's fast path); the customer as it
 * was before the write, or null when there is no such customer. The caller compares that
 * customer's `rev` with the one it decided on, to know whether the decision still holds. Like
 * every write of a customer, it moves `rev` on by one.
 */
export async function assignSegment(
  customerId: Types.ObjectId,
  segment: Segment,
  now: Date,
): Promise<CustomerDoc | null> {
  return Customer.findOneAndUpdate(
    { _id: customerId },
    { $set: { segment, segmentChangedAt: now, updatedAt: now }, $inc: { rev: 1 } },
    { returnDocument: 'before' },
  ).lean<CustomerDoc>();
}

/** A segment to store on a customer, decided on the customer as `seen`. */
export type SegmentAssignment = { seen: CustomerDoc; segment: Segment };

/** Writes by `_id` per command: the app's bound on the embedded engine. */
const ASSIGN_BATCH = 500;

/**
 * Stores several customers' segments, up to 500 writes by `_id` per command, each only where
 * the customer is still as seen: same `rev` (no write since, so the decision still holds and
 * the move is from exactly `seen.segment`), and live. `written` are the customers as stored
 * after the write, each with the segment it moved from; `changed` are the others as they are now
 * (a deleted one is left out), for the caller to decide again.
 *
 * A command's result counts its matches, not which write matched. When some did not match,
 * the customers are read back: each write also stored the command's own `batchWriteId`, which
 * nothing else writes, so a customer carrying it is one that command moved.
 */
export async function assignSegments(
  assignments: SegmentAssignment[],
  now: Date,
): Promise<{ written: Array<{ customer: CustomerDoc; from: Segment }>; changed: CustomerDoc[] }> {
  const written: Array<{ customer: CustomerDoc; from: Segment }> = [];
  const changed: CustomerDoc[] = [];
  for (let i = 0; i < assignments.length; i += ASSIGN_BATCH) {
    const batch = assignments.slice(i, i + ASSIGN_BATCH);
    const batchWriteId = new Types.ObjectId();
    const result = await Customer.collection.bulkWrite(
      batch.map(({ seen, segment }) => ({
        updateOne: {
          filter: { _id: seen._id, rev: seen.rev, segment: seen.segment, erasedAt: null },
          update: { $set: { segment, segmentChangedAt: now, updatedAt: now, batchWriteId }, $inc: { rev: 1 } },
        },
      })),
      { ordered: false },
    );
    const movedAsSeen = ({ seen, segment }: SegmentAssignment) => ({
      customer: { ...seen, segment, segmentChangedAt: now, updatedAt: now, batchWriteId, rev: seen.rev + 1 },
      from: seen.segment,
    });
    if (result.matchedCount === batch.length) {
      written.push(...batch.map(movedAsSeen));
      continue;
    }
    const current = new Map(
      (await Customer.find({ _id: mongoose.trusted({ $in: batch.map((a) => a.seen._id) }) }).lean<CustomerDoc[]>()).map(
        (c) => [String(c._id), c],
      ),
    );
    for (const a of batch) {
      const stored = current.get(String(a.seen._id));
      if (stored?.batchWriteId?.equals(batchWriteId)) written.push(movedAsSeen(a));
      else if (stored) changed.push(stored);
    }
  }
  return { written, changed };
}

/** How many customers each segment holds, counted from the customers (one aggregate). */
export async function countCustomersBySegment(): Promise<Record<Segment, number>> {
  const rows = await Customer.aggregate<{ _id: Segment; n: number }>([{ $group: { _id: '$segment', n: { $sum: 1 } } }]);
  return Object.fromEntries(SEGMENTS.map((s) => [s, rows.find((r) => r._id === s)?.n ?? 0])) as Record<Segment, number>;
}
