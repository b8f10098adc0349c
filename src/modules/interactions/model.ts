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
 * The write-ahead journal of interactions being applied to their customers. No multi-document
 * transactions exist on the embedded engine, so an entry is written before the interactions and
 * removed after the customers' aggregates and segments are updated and the events appended; an
 * entry left by a crash is repaired by recomputing its customers from their interactions (see
 * repair.ts). Each attempt — one interaction, or a batch of them — has its own entry (`_id`)
 * naming its interactions (`items`), so concurrent attempts at one externalId never remove
 * each other's, and a batch costs one insert and one delete.
 */
export type PendingItem = { interactionId: string; customerId: Types.ObjectId };

/**
 * An entry as stored. Entries written by earlier versions, one per interaction, carry that
 * interaction's `interactionId` and `customerId` instead of `items` (`itemsOf` reads both).
 */
export type PendingApplicationDoc = {
  _id: string;
  startedAt: Date;
  items?: PendingItem[];
  interactionId?: string;
  customerId?: Types.ObjectId;
};

export const PendingApplication = mongoose.model<PendingApplicationDoc>(
  'PendingApplication',
  new Schema<PendingApplicationDoc>(
    {
      _id: { type: String, required: true },
      startedAt: { type: Date, required: true },
      items: { type: [{ _id: false, interactionId: String, customerId: Schema.Types.ObjectId }], default: undefined },
      interactionId: { type: String },
      customerId: { type: Schema.Types.ObjectId },
    },
    { versionKey: false, collection: 'pending_applications' },
  ),
);

/** The interactions a journal entry names, whichever version wrote it. */
export function itemsOf(entry: PendingApplicationDoc): PendingItem[] {
  if (entry.items) return entry.items;
  return entry.interactionId && entry.customerId
    ? [{ interactionId: entry.interactionId, customerId: entry.customerId }]
    : [];
}

/**
 * The collections under the models, typed by what is stored there: the write path inserts in
 * bulk through the driver (no casting or hydrating per document), and the compiler still checks
 * what it inserts. Mongoose hands back the models' own collection objects.
 */
export const stored = {
  interactions: () => storedCollection(Interaction),
  pendingApplications: () => storedCollection(PendingApplication),
};
