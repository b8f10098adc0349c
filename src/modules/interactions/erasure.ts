import type { Types } from 'mongoose';
import { Interaction } from './model.js';

/**
 * What customers' erasure and merge ask of interactions: each an idempotent update, so an
 * erasure or a merge finished after a crash runs it again.
 */

/** An erased customer's interactions keep their facts (type, date, amount) but not their text. */
export async function eraseDescriptionsOf(customerId: Types.ObjectId): Promise<void> {
  await Interaction.updateMany({ customerId }, { $unset: { description: '' } });
}

/** A merged duplicate's interactions become the primary's. */
export async function moveInteractions(fromCustomerId: Types.ObjectId, toCustomerId: Types.ObjectId): Promise<void> {
  await Interaction.updateMany({ customerId: fromCustomerId }, { $set: { customerId: toCustomerId } });
}
