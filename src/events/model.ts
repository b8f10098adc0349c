import mongoose, { Schema } from 'mongoose';

export const EVENT_TYPES = [
  'SEGMENT_CHANGED',
  'INTERACTION_RECORDED',
  'CAMPAIGN_PROGRESS',
  'TASK_CREATED',
  'ALERT_RAISED',
  /** A customer's personal data was erased: every tailer redacts what it holds of them. */
  'CUSTOMER_ERASED',
  'GAP',
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * One entry of the durable event log. `seq` is dense (allocated from a counter) and `_id` is
 * the zero-padded seq, so a tailer reads the next entry with one lookup by `_id` — the only
 * query the embedded engine answers without a scan. A GAP entry fills a seq whose
 * writer never wrote it (it died between allocating and inserting).
 */
export type EventDoc = {
  _id: string;
  seq: number;
  type: EventType;
  at: Date;
  payload: Record<string, unknown>;
};

export const Event = mongoose.model<EventDoc>(
  'Event',
  new Schema<EventDoc>(
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
