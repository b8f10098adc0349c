import mongoose, { Schema } from 'mongoose';
import { storedCollection } from '../db/collections.js';
import { isDuplicateKeyError } from '../db/errors.js';
import type { EventDoc, EventType } from './map.js';

/** What the log must know of the personal data its events carry (the customers domain says). */
export type PersonalDataPolicy = {
  /** The customer whose personal data the event carries, or null. */
  customerIdOf(event: EventDoc): string | null;
  /** A copy of the event as erasure leaves it, the same as the scrubbed stored event. */
  withoutPersonalData(event: EventDoc): EventDoc;
  /**
   * The same erasure as one update of the stored events: the path of the customer's id, and
   * the paths set to anonymous values and removed.
   */
  stored: { customerIdPath: string; set: Record<string, unknown>; unset: readonly string[] };
};

export type { EventDoc, EventType } from './map.js';

/** Every type, for the stored enum; `satisfies` keeps it equal to the typed map's keys. */
export const EVENT_TYPES = [
  'SEGMENT_CHANGED',
  'INTERACTION_RECORDED',
  'CAMPAIGN_PROGRESS',
  'TASK_CREATED',
  'ALERT_RAISED',
  'CUSTOMER_ERASED',
  'GAP',
] as const satisfies readonly EventType[];
type MissingType = Exclude<EventType, (typeof EVENT_TYPES)[number]>;
const everyTypeListed: MissingType extends never ? true : MissingType = true;
void everyTypeListed;

/**
 * One entry of the durable event log. `seq` is dense (allocated from a counter) and `_id` is
 * the zero-padded seq, so a tailer reads the next entry with one lookup by `_id` — the only
 * query the embedded engine answers without a scan. A GAP entry fills a seq whose
 * writer never wrote it (it died between allocating and inserting).
 */
type StoredEvent = { _id: string; seq: number; type: EventType; at: Date; payload: Record<string, unknown> };

export const Event = mongoose.model<StoredEvent>(
  'Event',
  new Schema<StoredEvent>(
    {
      _id: { type: String, required: true },
      seq: { type: Number, required: true },
      type: { type: String, enum: EVENT_TYPES, required: true },
      at: { type: Date, required: true },
      payload: { type: Schema.Types.Mixed, default: {} },
    },
    { versionKey: false, collection: 'events', minimize: false },
  ),
);

export const EVENT_SEQUENCE = 'events';

export function eventId(seq: number): string {
  return String(seq).padStart(15, '0');
}

/**
 * The stored events from `first` on, by seq, of the `count` seqs from there (some may be
 * missing): one query of `_id`s, which the engine answers from its `_id` index, so a tailer that
 * fell behind catches up in a few reads, not one per event.
 */
export async function storedEventsFrom(first: number, count: number): Promise<Map<number, EventDoc>> {
  const ids = Array.from({ length: count }, (_, i) => eventId(first + i));
  const found = await storedCollection<EventDoc>(Event)
    .find({ _id: { $in: ids } })
    .toArray();
  return new Map(found.map((doc) => [doc.seq, doc]));
}

/**
 * Fills an allocated seq that was never written with a GAP entry; false when its writer (or
 * another tailer) got there first. The unique `_id` decides: never both.
 */
export async function claimAsGap(seq: number, at: Date): Promise<boolean> {
  try {
    await storedCollection<EventDoc>(Event).insertOne({ _id: eventId(seq), seq, type: 'GAP', at, payload: {} });
    return true;
  } catch (err) {
    if (isDuplicateKeyError(err)) return false;
    throw err;
  }
}
