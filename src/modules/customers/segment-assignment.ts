import type { Types } from 'mongoose';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';
import { writeWhereStillAsSeen } from './guarded-writes.js';
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

/**
 * Stores several customers' segments, one command per 500, each only where the customer is
 * still as seen (see `writeWhereStillAsSeen`) and still in `seen.segment`, so the move is from
 * exactly that segment. `written` are the customers as stored after the write, each with the
 * segment it moved from; `changed` are the others as they are now (a deleted one is left out),
 * for the caller to decide again.
 */
export async function assignSegments(
  assignments: SegmentAssignment[],
  now: Date,
): Promise<{ written: Array<{ customer: CustomerDoc; from: Segment }>; changed: CustomerDoc[] }> {
  const outcomes = await writeWhereStillAsSeen(
    assignments.map(({ seen, segment }) => ({
      seen,
      set: { segment, segmentChangedAt: now, updatedAt: now },
      alsoWhere: { segment: seen.segment },
    })),
  );
  const written: Array<{ customer: CustomerDoc; from: Segment }> = [];
  const changed: CustomerDoc[] = [];
  outcomes.forEach((outcome, k) => {
    if ('written' in outcome) written.push({ customer: outcome.written, from: assignments[k]!.seen.segment });
    else if (outcome.changed) changed.push(outcome.changed);
  });
  return { written, changed };
}

/** How many customers each segment holds, counted from the customers (one aggregate). */
export async function countCustomersBySegment(): Promise<Record<Segment, number>> {
  const rows = await Customer.aggregate<{ _id: Segment; n: number }>([{ $group: { _id: '$segment', n: { $sum: 1 } } }]);
  return Object.fromEntries(SEGMENTS.map((s) => [s, rows.find((r) => r._id === s)?.n ?? 0])) as Record<Segment, number>;
}
