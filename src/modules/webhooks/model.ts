import { storedCollection } from '../../db/collections.js';
import mongoose, { Schema, Types } from 'mongoose';

export const WEBHOOK_EVENT_TYPES = [
  'SEGMENT_CHANGED',
  'INTERACTION_RECORDED',
  'CAMPAIGN_PROGRESS',
  'TASK_CREATED',
  'ALERT_RAISED',
  'AUTOMATION_ACTION',
] as const;
export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

export type EndpointDoc = {
  _id: Types.ObjectId;
  url: string;
  eventTypes: WebhookEventType[];
  /** `whsec_` + base64: the Standard Webhooks signing secret. */
  secret: string;
  enabled: boolean;
  disabledReason?: string | null;
  lastSuccessAt?: Date | null;
  createdAt: Date;
  updatedAt: Date;
};

export const Endpoint = mongoose.model<EndpointDoc>(
  'WebhookEndpoint',
  new Schema<EndpointDoc>(
    {
      url: { type: String, required: true },
      eventTypes: { type: [String], required: true },
      secret: { type: String, required: true },
      enabled: { type: Boolean, required: true },
      disabledReason: { type: String },
      lastSuccessAt: { type: Date },
      createdAt: { type: Date, required: true },
      updatedAt: { type: Date, required: true },
    },
    { versionKey: false, collection: 'webhook_endpoints' },
  ),
);

/**
 * One event for one endpoint. `_id` is `<endpoint>:<event seq>` (or the automation step's id),
 * so an event processed twice is still delivered as one delivery, and the receiver sees the
 * same `webhook-id` on every retry.
 */
export type DeliveryDoc = {
  _id: string;
  endpointId: Types.ObjectId;
  eventType: WebhookEventType;
  payload: string;
  status: 'PENDING' | 'SUCCEEDED' | 'FAILED';
  attempts: number;
  responseCode?: number | null;
  lastError?: string | null;
  nextAttemptAt: Date;
  /** Retries stop after this (24 hours after it was queued, or redelivered). */
  retryUntil: Date;
  leaseUntil: Date;
  createdAt: Date;
  deliveredAt?: Date | null;
};

const deliverySchema = new Schema<DeliveryDoc>(
  {
    _id: { type: String, required: true },
    endpointId: { type: Schema.Types.ObjectId, required: true },
    eventType: { type: String, required: true },
    payload: { type: String, required: true },
    status: { type: String, enum: ['PENDING', 'SUCCEEDED', 'FAILED'], required: true },
    attempts: { type: Number, required: true },
    responseCode: { type: Number },
    lastError: { type: String },
    nextAttemptAt: { type: Date, required: true },
    retryUntil: { type: Date, required: true },
    leaseUntil: { type: Date, required: true },
    createdAt: { type: Date, required: true },
    deliveredAt: { type: Date },
  },
  { versionKey: false, collection: 'webhook_deliveries' },
);
deliverySchema.index({ status: 1, nextAttemptAt: 1 });
deliverySchema.index({ endpointId: 1, createdAt: -1, _id: -1 });

export const WebhookDelivery = mongoose.model<DeliveryDoc>('WebhookDelivery', deliverySchema);

/** The deliveries' collection as the driver sees it, typed: deliveries are queued through it, uncast. */
export const deliveryDocs = storedCollection(WebhookDelivery);
