import { storedCollection } from '../../db/collections.js';
import mongoose, { Schema, Types } from 'mongoose';

export const INTERACTION_TYPES = ['PURCHASE', 'INQUIRY', 'COMPLAINT', 'SUPPORT', 'MARKETING'] as const;
export type InteractionType = (typeof INTERACTION_TYPES)[number];
export const CHANNELS = ['WEB', 'APP', 'PHONE', 'STORE', 'EMAIL', 'SMS', 'SYSTEM'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * An interaction as stored. Its `_id` is derived from the caller's `externalId` when one is
 * given (`x:<externalId>`), so idempotency is the engine's own unique `_id` — exact under
 * concurrency — and a replay is found by `_id` (the one lookup the embedded engine indexes).
 */
export type InteractionDoc = {
  _id: string;
  customerId: Types.ObjectId;
  type: InteractionType;
  channel: Channel;
  description?: string | null;
  occurredAt: Date;
  recordedAt: Date;
  amountMinor?: number | null;
  currency?: string | null;
  externalId?: string | null;
};

const interactionSchema = new Schema<InteractionDoc>(
  {
    _id: { type: String, required: true },
    customerId: { type: Schema.Types.ObjectId, required: true },
    type: { type: String, enum: INTERACTION_TYPES, required: true },
    channel: { type: String, enum: CHANNELS, required: true },
    description: { type: String },
    occurredAt: { type: Date, required: true },
    recordedAt: { type: Date, required: true },
    amountMinor: { type: Number },
    currency: { type: String },
    externalId: { type: String },
  },
  { versionKey: false, collection: 'interactions' },
);

interactionSchema.index({ customerId: 1, occurredAt: -1, _id: -1 });
interactionSchema.index({ occurredAt: -1, _id: -1 });
interactionSchema.index({ type: 1, occurredAt: -1 });

export const Interaction = mongoose.model<InteractionDoc>('Interaction', interactionSchema);

/**
 * The write-ahead journal of interactions being applied to their customer. No multi-document
 * transactions exist on the embedded engine, so an entry is written before the interaction and
 * removed after the customer's aggregates and segment are updated; an entry left by a crash is
 * repaired by recomputing that customer from its interactions (see service.ts). Each attempt
 * has its own entry (`_id`), so concurrent attempts at one externalId never remove each
 * other's.
 */
export type PendingApplicationDoc = { _id: string; interactionId: string; customerId: Types.ObjectId; startedAt: Date };

export const PendingApplication = mongoose.model<PendingApplicationDoc>(
  'PendingApplication',
  new Schema<PendingApplicationDoc>(
    {
      _id: { type: String, required: true },
      interactionId: { type: String, required: true },
      customerId: { type: Schema.Types.ObjectId, required: true },
      startedAt: { type: Date, required: true },
    },
    { versionKey: false, collection: 'pending_applications' },
  ),
);

/**
 * The collections under the models, typed by what is stored there: the write path inserts in
 * bulk through the driver (no casting or hydrating per document), and the compiler still checks
 * what it inserts. Mongoose hands back the models' own collection objects.
 */
export const stored = {
  interactions: () => storedCollection(Interaction),
  pendingApplications: () => storedCollection(PendingApplication),
};
