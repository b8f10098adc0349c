import type { DomainModule } from '../../app/module.js';
import { Endpoint, WebhookDelivery } from './model.js';
import { resolvers } from './resolvers.js';

export { createWebhooksService, type WebhooksService } from './service.js';

/** The webhooks domain as the composition root sees it. */
export const webhooksModule = {
  name: 'webhooks',
  indexedModels: [Endpoint, WebhookDelivery],
  resolvers,
} satisfies DomainModule;
export { automationActionData, webhookBody } from './payloads.js';
export { pendingWebhookDeliveriesCount } from './queue.js';
export { pruneSettledWebhookDeliveries } from './retention.js';
