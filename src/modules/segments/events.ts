import type { CustomerDoc } from '../customers/model.js';
import type { Segment } from '../../shared/segment-policy.js';
import type { SegmentChangeReason } from './model.js';

/** The events the segments domain publishes, by type. */
export type SegmentEvents = { SEGMENT_CHANGED: SegmentChangedPayload };

/** What a segment change event carries: the customer as it was right after the change. */
export type SegmentChangedPayload = {
  customer: CustomerDoc;
  from: Segment | null;
  to: Segment;
  changedAt: Date;
  reason: SegmentChangeReason;
};
