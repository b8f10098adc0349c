import type { Types } from 'mongoose';
import { Customer } from './model.js';

/**
 * Tag writes for other domains (automation's ADD_TAG and REMOVE_TAG steps): they change a
 * customer's tags through these, never through the model, so the collection has one owner.
 */

/** Adds `tag` unless the customer has it already. */
export async function addCustomerTag(id: Types.ObjectId, tag: string, now: Date): Promise<void> {
  await Customer.updateOne({ _id: id }, { $addToSet: { tags: tag }, $set: { updatedAt: now }, $inc: { rev: 1 } });
}

/** Removes `tag` if the customer has it. */
export async function removeCustomerTag(id: Types.ObjectId, tag: string, now: Date): Promise<void> {
  await Customer.updateOne({ _id: id }, { $pull: { tags: tag }, $set: { updatedAt: now }, $inc: { rev: 1 } });
}
