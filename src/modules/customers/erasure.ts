import type { Clock } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import {
  AudienceChunk,
  decodeRecipients,
  Delivery,
  encodeRecipients,
  type AudienceChunkDoc,
} from '../campaigns/model.js';
import { Event } from '../events/model.js';
import { Interaction } from '../interactions/model.js';
import type { FieldProblem } from './service.js';
import { Customer, type CustomerDoc } from './model.js';

export const ERASED_NAME = 'Erased customer';

/**
 * deleteCustomer: erases a customer's personal data wherever it is stored and keeps the
 * anonymous aggregates. The customer document is marked first (so no new interaction, message
 * or campaign reaches it from then on), then each store is scrubbed with an idempotent update —
 * a crash in between is finished by deleting again, which repeats the scrubbing.
 *
 * Not scrubbed: the audit log (who changed what is a record the business keeps; it holds the
 * arguments of mutations, with secrets redacted), and events other processes hold in memory
 * (their tailers' recent-events cache, at most 10,000 events, which ages out).
 */
export async function eraseCustomer(
  id: string,
  clock: Clock,
  opts: { isMerging?: boolean } = {},
): Promise<{ customer: CustomerDoc } | { problems: FieldProblem[] }> {
  const _id = objectIdOrNull(id);
  const current = _id && (await Customer.findById(_id).lean<CustomerDoc>());
  if (!_id || !current) return { problems: [{ field: ['id'], message: 'no customer has this id', code: 'NOT_FOUND' }] };
  const now = clock.now();
  const customer =
    (await Customer.findOneAndUpdate(
      { _id },
      {
        $set: {
          name: ERASED_NAME,
          nameLower: ERASED_NAME.toLowerCase(),
          tags: [],
          searchKeys: [current.code.toLowerCase()],
          erasedAt: current.erasedAt ?? now,
          unsubscribedAt: current.unsubscribedAt ?? now,
          updatedAt: now,
        },
        // What a merge carries to the primary stays until the merge is done; otherwise it goes.
        $unset: { email: '', phone: '', ...(opts.isMerging ? {} : { mergePending: '' }) },
      },
      { returnDocument: 'after' },
    ).lean<CustomerDoc>()) ?? current;
  await Interaction.updateMany({ customerId: _id }, { $unset: { description: '' } });
  // Campaigns sending now hold their audience in chunks: the customer leaves them (a chunk
  // being sent this very moment may still reach them once).
  for (const chunk of await AudienceChunk.find({}).lean<AudienceChunkDoc[]>()) {
    if (!chunk.recipients.includes(String(_id))) continue;
    const kept = decodeRecipients(chunk.recipients).filter((r) => !r.customerId.equals(_id));
    await AudienceChunk.updateOne(
      { _id: chunk._id, recipients: chunk.recipients },
      { $set: { recipients: encodeRecipients(kept) } },
    );
  }
  await Delivery.updateMany({ customerId: _id }, { $set: { message: '[erased]' }, $unset: { email: '', phone: '' } });
  await Event.updateMany(
    { 'payload.customer._id': _id },
    {
      $set: {
        'payload.customer.name': ERASED_NAME,
        'payload.customer.nameLower': ERASED_NAME.toLowerCase(),
        'payload.customer.tags': [],
        'payload.customer.searchKeys': [],
      },
      $unset: { 'payload.customer.email': '', 'payload.customer.phone': '', 'payload.interaction.description': '' },
    },
  );
  return { customer };
}
