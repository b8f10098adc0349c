import mongoose, { type Types } from 'mongoose';
import { SegmentChange, type SegmentChangeDoc } from './model.js';

export type { SegmentChangeDoc } from './model.js';

/**
 * Every stored segment change of the customers after `afterCustomerId`, read-only, in the order
 * of the `customerId` index (by customer, newest first), streamed from the index.
 */
export function segmentChangesByCustomer(afterCustomerId: Types.ObjectId | null): AsyncIterable<SegmentChangeDoc> {
  const filter = afterCustomerId ? { customerId: mongoose.trusted({ $gt: afterCustomerId }) } : {};
  return SegmentChange.find(filter).sort({ customerId: 1, changedAt: -1 }).lean<SegmentChangeDoc>().cursor();
}
