import type { Types } from 'mongoose';
import type { Clock } from '../../shared/clock.js';
import type { AuditService } from '../audit/service.js';
import type { EventLog } from '../../events/log.js';
import type { PersonalDataPolicy } from '../../events/model.js';
import type { EventDoc } from '../../events/map.js';
import { objectIdOrNull } from '../../shared/ids.js';
import type { InteractionDoc } from '../interactions/model.js';
import { notFound, type FieldProblem } from '../../shared/problems.js';
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

function erasedProfile(customer: CustomerDoc): CustomerDoc {
  const erased: CustomerDoc = { ...customer, ...erasedEventProfile() };
  for (const field of EVENT_PROFILE_PERSONAL_FIELDS) delete erased[field];
  return erased;
}

function withoutDescription(interaction: InteractionDoc): InteractionDoc {
  const kept = { ...interaction };
  delete kept.description;
  return kept;
}

/**
 * Where events carry personal data: the customer profile in their payload, and the
 * interaction's description. The event log redacts what it holds in memory with this, and the
 * stored events with its `stored` form, as the erasure asks.
 */
export const eventPersonalData: PersonalDataPolicy = {
  customerIdOf(event) {
    const customer: CustomerDoc | null = 'customer' in event.payload ? event.payload.customer : null;
    return customer?._id ? String(customer._id) : null;
  },
  withoutPersonalData(event): EventDoc {
    // The redacted copy keeps the event's type and shape; only personal values are gone.
    if (event.type === 'INTERACTION_RECORDED') {
      const { customer, interaction } = event.payload;
      return {
        ...event,
        payload: { ...event.payload, customer: erasedProfile(customer), interaction: withoutDescription(interaction) },
      };
    }
    if (event.type === 'SEGMENT_CHANGED')
      return { ...event, payload: { ...event.payload, customer: erasedProfile(event.payload.customer) } };
    return event;
  },
  stored: {
    customerIdPath: 'payload.customer._id',
    set: Object.fromEntries(Object.entries(erasedEventProfile()).map(([k, v]) => [`payload.customer.${k}`, v])),
    unset: [...EVENT_PROFILE_PERSONAL_FIELDS.map((k) => `payload.customer.${k}`), 'payload.interaction.description'],
  },
};

/**
 * The owners of the other stores that hold a customer's personal data, injected by the
 * composition root (their domains depend on this one, so it cannot import them).
 */
export type ErasureDeps = {
  clock: Clock;
  events: Pick<EventLog, 'scrubStoredEvents' | 'announceErasure'>;
  audit: Pick<AuditService, 'erasePersonalValues'>;
  interactions: { eraseDescriptionsOf(customerId: Types.ObjectId): Promise<void> };
  campaigns: { eraseRecipient(customerId: Types.ObjectId): Promise<void> };
};

/**
 * deleteCustomer: erases a customer's personal data wherever it is stored and keeps the
 * anonymous aggregates. The customer document is marked first (so no new interaction, message
 * or campaign reaches it from then on), then each store is scrubbed by its owner with an
 * idempotent update — a crash in between is finished by deleting again, which repeats the
 * scrubbing. The event log's stored events are scrubbed, then the erasure is announced in the
 * log, so every process redacts the events it holds in memory. The audit log keeps its entries
 * (who changed what is a record the business keeps) with the customer's personal values in
 * them replaced.
 */
export async function eraseCustomer(
  deps: ErasureDeps,
  id: string,
  opts: { isMerging?: boolean } = {},
): Promise<{ customer: CustomerDoc } | { problems: FieldProblem[] }> {
  const _id = objectIdOrNull(id);
  const current = _id && (await Customer.findById(_id).lean<CustomerDoc>());
  if (!_id || !current) return notFound('customer');
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
        $inc: { rev: 1 },
      },
      { returnDocument: 'after' },
    ).lean<CustomerDoc>()) ?? current;
  await deps.interactions.eraseDescriptionsOf(_id);
  await deps.campaigns.eraseRecipient(_id);
  await deps.events.scrubStoredEvents(_id);
  await deps.events.announceErasure(String(_id));
  await deps.audit.erasePersonalValues(String(_id));
  return { customer };
}
