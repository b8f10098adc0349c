import type { EventDoc } from '../../events/model.js';
import { enqueue, type DeliveryDeps } from './deliveries.js';
import type { EnabledEndpoints } from './endpoints.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from './model.js';
import { eventData, webhookBody } from './payloads.js';

const isWebhookEventType = (type: string): type is WebhookEventType =>
  (WEBHOOK_EVENT_TYPES as readonly string[]).includes(type);

/**
 * The webhook consumer's handler: one delivery per subscribed endpoint per event, named by the
 * endpoint and the event's seq, so an event handled twice is still queued once.
 */
export async function queueEventDeliveries(
  deps: DeliveryDeps & { enabledEndpoints: EnabledEndpoints; currency: string },
  event: EventDoc,
): Promise<void> {
  const { type } = event;
  if (!isWebhookEventType(type)) return;
  const subscribed = (await deps.enabledEndpoints.get()).filter((e) => e.eventTypes.includes(type));
  if (!subscribed.length) return;
  const data = await eventData(event, deps.currency);
  if (!data) return;
  for (const e of subscribed)
    await enqueue(deps, `${String(e._id)}:${event.seq}`, e._id, type, webhookBody(type, event.at, data));
}
