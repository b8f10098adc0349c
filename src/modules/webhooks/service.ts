import type { Types } from 'mongoose';
import type { EventDoc } from '../../events/model.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { createOutboundHttp } from '../../shared/outbound-http.js';
import { enqueue, findDelivery, listDeliveries, redeliver } from './deliveries.js';
import { createDeliveryWorker } from './delivery-worker.js';
import {
  createEndpoint,
  deleteEndpoint,
  enabledEndpointsCache,
  endpointCallCheck,
  findEndpoint,
  listEndpoints,
  updateEndpoint,
} from './endpoints.js';
import { queueEventDeliveries } from './event-consumer.js';
import type { WebhookEventType } from './model.js';
import type { WebhookSettings } from './settings.js';

export type { WebhookSettings } from './settings.js';

export type WebhooksService = ReturnType<typeof createWebhooksService>;

/**
 * Outbound webhooks: endpoints (endpoints.ts), the deliveries queued for them by the event
 * consumer (event-consumer.ts, deliveries.ts) and by automation steps, and the worker that sends
 * them (delivery-worker.ts).
 */
export function createWebhooksService(deps: {
  clock: Clock;
  logger: Logger;
  /** The deployment currency, for money in payloads. */
  currency: string;
  settings: WebhookSettings;
}) {
  const { clock, logger, currency, settings } = deps;
  const enabledEndpoints = enabledEndpointsCache();
  const endpointDeps = { clock, settings, enabledEndpoints };
  const outbound = createOutboundHttp({ policy: settings.outbound, logger });
  const worker = createDeliveryWorker({ clock, logger, settings, outbound, enabledEndpoints });
  return {
    createEndpoint: (input: Parameters<typeof createEndpoint>[1]) => createEndpoint(endpointDeps, input),
    updateEndpoint: (id: string, input: Parameters<typeof updateEndpoint>[2]) =>
      updateEndpoint(endpointDeps, id, input),
    deleteEndpoint: (id: string) => deleteEndpoint(endpointDeps, id),
    listEndpoints,
    findEndpoint,
    endpointCallCheck: () => endpointCallCheck(endpointDeps),
    listDeliveries,
    findDelivery,
    enqueue: (id: string, endpointId: Types.ObjectId, eventType: WebhookEventType, body: unknown) =>
      enqueue(endpointDeps, id, endpointId, eventType, body),
    redeliver: (deliveryId: string) => redeliver(endpointDeps, deliveryId),
    handleEvent: (event: EventDoc) => queueEventDeliveries({ ...endpointDeps, currency }, event),
    deliverDue: worker.deliverDue,
    stopDelivering: worker.stop,
  };
}
