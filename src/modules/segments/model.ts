import mongoose, { Schema, Types } from 'mongoose';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';

export const SEGMENT_CHANGE_REASONS = ['INTERACTION', 'TIME', 'POLICY', 'CREATED'] as const;
export type SegmentChangeReason = (typeof SEGMENT_CHANGE_REASONS)[number];

/** The history of every segment change. */
export type SegmentChangeDoc = {
  _id: Types.ObjectId;
  customerId: Types.ObjectId;
  from: Segment | null;
  to: Segment;
  changedAt: Date;
  reason: SegmentChangeReason;
};

const segmentChangeSchema = new Schema<SegmentChangeDoc>(
  {
    customerId: { type: Schema.Types.ObjectId, required: true },
    from: { type: String, enum: [...SEGMENTS, null] },
    to: { type: String, enum: SEGMENTS, required: true },
    changedAt: { type: Date, required: true },
    reason: { type: String, enum: SEGMENT_CHANGE_REASONS, required: true },
  },
  { versionKey: false, collection: 'segment_changes' },
);
segmentChangeSchema.index({ customerId: 1, changedAt: -1 });

export const SegmentChange = mongoose.model<SegmentChangeDoc>('SegmentChange', segmentChangeSchema);

/** Settings documents by name: the segment policy, the stored segment counts. */
export type SettingDoc = { _id: string } & Record<string, unknown>;

export const Setting = mongoose.model<SettingDoc>(
  'Setting',
  new Schema<SettingDoc>({ _id: String }, { versionKey: false, collection: 'settings', strict: false }),
);
