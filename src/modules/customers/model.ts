import mongoose, { Schema, Types } from 'mongoose';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';

/**
 * A customer as stored. Aggregates (totals, counts, last activity) are maintained at write
 * time with atomic operators, never counted on request (counting would read every matching document).
 */
export type CustomerDoc = {
  _id: Types.ObjectId;
  code: string;
  name: string;
  email?: string | null;
  phone?: string | null;
  tags: string[];
  /** Lower-case prefixes a search may match: the name and each word of it, email, phone forms, code. */
  searchKeys: string[];
  nameLower: string;
  segment: Segment;
  segmentChangedAt: Date;
  totalPurchasesMinor: number;
  purchaseCount: number;
  interactionCount: number;
  lastInteractionAt?: Date | null;
  /** lastInteractionAt, or the epoch when none: a sortable, $max-able twin of it. */
  lastInteractionSortAt: Date;
  /** lastInteractionAt or joinedAt: what the time-based segment rules look at (indexed). */
  activityAt: Date;
  joinedAt: Date;
  /**
   * Bumped by every write: a decision taken on the customer as read (a segment, a batch's
   * aggregates) is written only where it is still as read.
   */
  rev: number;
  /** Set by each batched conditional write: tells the writer which of its writes took effect. */
  batchWriteId?: Types.ObjectId | null;
  /** When the customer unsubscribed from campaigns (a campaign response); later audiences skip them. */
  unsubscribedAt?: Date | null;
  /** When deleteCustomer erased its personal data (the record stays, anonymous). */
  erasedAt?: Date | null;
  /** Set on a duplicate merged into another customer (which now holds its interactions). */
  mergedIntoId?: Types.ObjectId | null;
  /** During a merge only: what the primary takes from this duplicate. */
  mergePending?: {
    email: string | null;
    phone: string | null;
    tags: string[];
    unsubscribedAt?: Date | null;
  } | null;
  createdAt: Date;
  updatedAt: Date;
};

const customerSchema = new Schema<CustomerDoc>(
  {
    code: { type: String, required: true },
    name: { type: String, required: true },
    email: { type: String },
    phone: { type: String },
    tags: { type: [String], default: [] },
    searchKeys: { type: [String], default: [] },
    nameLower: { type: String, required: true },
    segment: { type: String, enum: SEGMENTS, required: true },
    segmentChangedAt: { type: Date, required: true },
    batchWriteId: { type: Schema.Types.ObjectId },
    totalPurchasesMinor: { type: Number, required: true, default: 0 },
    purchaseCount: { type: Number, required: true, default: 0 },
    interactionCount: { type: Number, required: true, default: 0 },
    lastInteractionAt: { type: Date },
    lastInteractionSortAt: { type: Date, required: true },
    activityAt: { type: Date, required: true },
    joinedAt: { type: Date, required: true },
    rev: { type: Number, required: true, default: 0 },
    unsubscribedAt: { type: Date },
    erasedAt: { type: Date },
    mergedIntoId: { type: Schema.Types.ObjectId },
    mergePending: { type: Schema.Types.Mixed },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'customers' },
);

customerSchema.index({ code: 1 }, { unique: true });
// Sparse: customers without an email do not collide with each other.
customerSchema.index({ email: 1 }, { unique: true, sparse: true });
customerSchema.index({ segment: 1, activityAt: 1 });
customerSchema.index({ searchKeys: 1 });
customerSchema.index({ tags: 1 });
customerSchema.index({ joinedAt: -1, _id: -1 });
customerSchema.index({ lastInteractionSortAt: -1, _id: -1 });
customerSchema.index({ totalPurchasesMinor: -1, _id: -1 });
customerSchema.index({ nameLower: 1, _id: 1 });

export const Customer = mongoose.model<CustomerDoc>('Customer', customerSchema);
