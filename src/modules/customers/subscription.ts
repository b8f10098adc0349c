import type { Types } from 'mongoose';
import { Customer } from './model.js';

/**
 * Opts a customer out of later campaigns. An earlier opt-out keeps its date; returns whether
 * this call opted the customer out.
 */
export async function markCustomerUnsubscribed(id: Types.ObjectId | string, now: Date): Promise<boolean> {
  const result = await Customer.updateOne(
    { _id: id, unsubscribedAt: null },
    { $set: { unsubscribedAt: now }, $inc: { rev: 1 } },
  );
  return result.modifiedCount > 0;
}
