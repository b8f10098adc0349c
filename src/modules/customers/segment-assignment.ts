import type { Types } from 'mongoose';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';
import { Customer, type CustomerDoc } from './model.js';

/**
 * The segment stored on each customer. The segments domain decides it (policy, history,
 * counts); the customer document is written here only.
 */

/**
 * Stores a customer's segment, by `_id` (the embedded engine's fast path); the customer as it
 * was before the write, or null when there is no such customer. The caller compares that
 * customer's `rev` with the one it decided on, to know whether the decision still holds.
 */
export async function assignSegment(
  customerId: Types.ObjectId,
  segment: Segment,
  now: Date,
): Promise<CustomerDoc | null> {
  return Customer.findOneAndUpdate(
    { _id: customerId },
    { $set: { segment, segmentChangedAt: now, updatedAt: now } },
    { returnDocument: 'before' },
  ).lean<CustomerDoc>();
}

/** How many customers each segment holds, counted from the customers (one aggregate). */
export async function countCustomersBySegment(): Promise<Record<Segment, number>> {
  const rows = await Customer.aggregate<{ _id: Segment; n: number }>([{ $group: { _id: '$segment', n: { $sum: 1 } } }]);
  return Object.fromEntries(SEGMENTS.map((s) => [s, rows.find((r) => r._id === s)?.n ?? 0])) as Record<Segment, number>;
}
