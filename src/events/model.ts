import mongoose, { Schema } from 'mongoose';

import type { EventType } from './map.js';

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
