import { WebhookDelivery } from './model.js';

/** Deliveries waiting to be sent or retried: the delivery worker's queue, for status pages and gauges. */
export async function pendingWebhookDeliveriesCount(): Promise<number> {
  return WebhookDelivery.countDocuments({ status: 'PENDING' });
}
