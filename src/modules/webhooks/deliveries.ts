import type { Types } from 'mongoose';
import { isDuplicateKeyError } from '../../db/errors.js';
import { newestFirstPage, type Page } from '../../db/pagination.js';
import type { Clock } from '../../shared/clock.js';
import { notFound, type FieldProblem } from '../../shared/problems.js';
import { deliveryDocs, Endpoint, WebhookDelivery, type DeliveryDoc, type WebhookEventType } from './model.js';
import type { WebhookSettings } from './settings.js';

export type DeliveryDeps = { clock: Clock; settings: Pick<WebhookSettings, 'retryForMs'> };

/** Queues one delivery; queuing the same id again changes nothing. */
export async function enqueue(
  deps: DeliveryDeps,
  id: string,
  endpointId: Types.ObjectId,
  eventType: WebhookEventType,
  body: unknown,
): Promise<void> {
  const now = deps.clock.now();
  try {
    await deliveryDocs.insertOne({
      _id: id,
      endpointId,
      eventType,
      payload: JSON.stringify(body),
      status: 'PENDING',
      attempts: 0,
      nextAttemptAt: now,
      retryUntil: new Date(now.getTime() + deps.settings.retryForMs),
      leaseUntil: new Date(0),
      createdAt: now,
    });
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
  }
}

/** Sends a delivery again from now, with a new retry window, whatever became of it. */
export async function redeliver(
  deps: DeliveryDeps,
  deliveryId: string,
): Promise<{ delivery: DeliveryDoc } | { problems: FieldProblem[] }> {
  const existing = await WebhookDelivery.findById(deliveryId).lean<DeliveryDoc>();
  if (!existing || !(await Endpoint.exists({ _id: existing.endpointId })))
    return notFound('webhook delivery of an existing endpoint', 'deliveryId');
  const now = deps.clock.now();
  const delivery = await WebhookDelivery.findOneAndUpdate(
    { _id: deliveryId },
    {
      $set: {
        status: 'PENDING',
        nextAttemptAt: now,
        retryUntil: new Date(now.getTime() + deps.settings.retryForMs),
        leaseUntil: new Date(0),
      },
    },
    { returnDocument: 'after' },
  ).lean<DeliveryDoc>();
  return delivery ? { delivery } : notFound('webhook delivery', 'deliveryId');
}

/** An endpoint's deliveries, newest first, one page; null when `after` is not a cursor of this list. */
export async function listDeliveries(
  endpointId: Types.ObjectId,
  args: { status?: DeliveryDoc['status'] | null; first: number; after?: string | null },
): Promise<Page<DeliveryDoc> | null> {
  const filter = { endpointId, ...(args.status ? { status: args.status } : {}) };
  return newestFirstPage(WebhookDelivery, filter, args, { path: 'createdAt', idKind: 'string' });
}

export async function findDelivery(id: string): Promise<DeliveryDoc | null> {
  return WebhookDelivery.findById(id).lean<DeliveryDoc>();
}
