import type { Types } from 'mongoose';
import { AudienceChunk, decodeRecipients, Delivery, encodeRecipients, type AudienceChunkDoc } from './model.js';

/**
 * What campaigns keep of an erased customer: they leave the audiences of campaigns being sent,
 * and their deliveries lose the message and the address. Idempotent: an erasure finished after
 * a crash runs it again.
 */
export async function eraseRecipient(customerId: Types.ObjectId): Promise<void> {
  // Campaigns sending now hold their audience in chunks: the customer leaves them (a chunk
  // being sent this very moment may still reach them once).
  for (const chunk of await AudienceChunk.find({}).lean<AudienceChunkDoc[]>()) {
    if (!chunk.recipients.includes(String(customerId))) continue;
    const kept = decodeRecipients(chunk.recipients).filter((r) => !r.customerId.equals(customerId));
    await AudienceChunk.updateOne(
      { _id: chunk._id, recipients: chunk.recipients },
      { $set: { recipients: encodeRecipients(kept) } },
    );
  }
  await Delivery.updateMany({ customerId }, { $set: { message: '[erased]' }, $unset: { email: '', phone: '' } });
}
