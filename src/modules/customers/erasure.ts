import type { Clock } from '../../shared/clock.js';
import type { AuditService } from '../audit/service.js';
import type { EventLog, PersonalDataPolicy } from '../../events/log.js';
import type { EventDoc } from '../../events/map.js';
import { objectIdOrNull } from '../../shared/ids.js';
import {
  AudienceChunk,
  decodeRecipients,
  Delivery,
  encodeRecipients,
  type AudienceChunkDoc,
} from '../campaigns/model.js';
import { Event } from '../../events/model.js';
import { Interaction, type InteractionDoc } from '../interactions/model.js';
import type { FieldProblem } from '../../shared/problems.js';
import { Customer, type CustomerDoc } from './model.js';

export const ERASED_NAME = 'Erased customer';

/** What a profile carried in an event keeps of its personal fields once erased (a fresh copy). */
const erasedEventProfile = () => ({
  name: ERASED_NAME,
  nameLower: ERASED_NAME.toLowerCase(),
  tags: [] as string[],
  searchKeys: [] as string[],
});
/** What it loses (`mergePending` holds a merged duplicate's e-mail and phone for a while). */
const EVENT_PROFILE_PERSONAL_FIELDS = ['email', 'phone', 'mergePending'] as const;

type PayloadWithPersonalData = { customer?: CustomerDoc; interaction?: InteractionDoc };

/**
 * Where events carry personal data: the customer profile in their payload, and the
 * interaction's description. The event log redacts what it holds in memory with this, as the
 * erasure scrubs the stored events.
 */
export const eventPersonalData: PersonalDataPolicy = {
  customerIdOf(event) {
    const customer = (event.payload as PayloadWithPersonalData).customer;
    return customer?._id ? String(customer._id) : null;
  },
  withoutPersonalData(event) {
    const { customer, interaction } = event.payload as PayloadWithPersonalData;
    const payload: Record<string, unknown> = { ...event.payload };
    if (customer) {
      const erased: Partial<CustomerDoc> = { ...customer, ...erasedEventProfile() };
      for (const field of EVENT_PROFILE_PERSONAL_FIELDS) delete erased[field];
      payload.customer = erased;
    }
    if (interaction) {
      const kept: Partial<InteractionDoc> = { ...interaction };
      delete kept.description;
      payload.interaction = kept;
    }
    // The redacted copy keeps the event's type and shape; only personal values are gone.
    return { ...event, payload } as EventDoc;
  },
};

export type ErasureDeps = {
  clock: Clock;
  events: Pick<EventLog, 'announceErasure'>;
  audit: Pick<AuditService, 'erasePersonalValues'>;
};

/**
 * deleteCustomer: erases a customer's personal data wherever it is stored and keeps the
 * anonymous aggregates. The customer document is marked first (so no new interaction, message
 * or campaign reaches it from then on), then each store is scrubbed with an idempotent update —
 * a crash in between is finished by deleting again, which repeats the scrubbing. The event
 * log's stored events are scrubbed, then the erasure is announced in the log, so every process
 * redacts the events it holds in memory. The audit log keeps its entries (who changed what is
 * a record the business keeps) with the customer's personal values in them replaced.
 */
export async function eraseCustomer(
  deps: ErasureDeps,
  id: string,
  opts: { isMerging?: boolean } = {},
): Promise<{ customer: CustomerDoc } | { problems: FieldProblem[] }> {
  const _id = objectIdOrNull(id);
  const current = _id && (await Customer.findById(_id).lean<CustomerDoc>());
  if (!_id || !current) return { problems: [{ field: ['id'], message: 'no customer has this id', code: 'NOT_FOUND' }] };
  const now = deps.clock.now();
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
      $set: Object.fromEntries(Object.entries(erasedEventProfile()).map(([k, v]) => [`payload.customer.${k}`, v])),
      $unset: {
        ...Object.fromEntries(EVENT_PROFILE_PERSONAL_FIELDS.map((k) => [`payload.customer.${k}`, ''])),
        'payload.interaction.description': '',
      },
    },
  );
  await deps.events.announceErasure(String(_id));
  await deps.audit.erasePersonalValues(String(_id));
  return { customer };
}
