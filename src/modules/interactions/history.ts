import mongoose, { type Types } from 'mongoose';
import { Interaction, type InteractionDoc } from './model.js';

export type { Channel, InteractionDoc } from './model.js';

/**
 * Every stored interaction of the customers after `afterCustomerId`, read-only, in the order of
 * the `customerId` index (by customer, newest first): the engine streams it from the index, so
 * a reader of the whole history (the analytics rebuild) holds one customer's at a time.
 */
export function interactionsByCustomer(afterCustomerId: Types.ObjectId | null): AsyncIterable<InteractionDoc> {
  const filter = afterCustomerId ? { customerId: mongoose.trusted({ $gt: afterCustomerId }) } : {};
  return Interaction.find(filter).sort({ customerId: 1, occurredAt: -1, _id: -1 }).lean<InteractionDoc>().cursor();
}
