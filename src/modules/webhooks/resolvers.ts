import type { Resolvers } from '../../generated/graphql.js';
import { connectionResolvers } from '../../graphql/connections.js';
import { userInputError } from '../../graphql/errors.js';
import { toUserErrors } from '../../graphql/payloads.js';
import { localIdOf, toGlobalId } from '../../shared/ids.js';
import type { EndpointResult } from './endpoints.js';
import type { DeliveryDoc } from './model.js';

function endpointPayload(result: EndpointResult) {
  return result.problems
    ? { endpoint: null, userErrors: toUserErrors(result.problems) }
    : { endpoint: result.endpoint, userErrors: [] };
}

export const resolvers = {
  Query: {
    webhookEndpoints: (_p, _a, ctx) => ctx.domain.webhooks.listEndpoints(),
  },
  Mutation: {
    createWebhookEndpoint: async (_p, { input }, ctx) => {
      const result = await ctx.domain.webhooks.createEndpoint(input);
      if (result.problems) return { endpoint: null, secret: null, userErrors: toUserErrors(result.problems) };
      return { endpoint: result.endpoint, secret: result.endpoint.secret, userErrors: [] };
    },
    updateWebhookEndpoint: async (_p, { id, input }, ctx) =>
      endpointPayload(await ctx.domain.webhooks.updateEndpoint(localIdOf(id, 'WebhookEndpoint') ?? '', input)),
    deleteWebhookEndpoint: async (_p, { id }, ctx) =>
      endpointPayload(await ctx.domain.webhooks.deleteEndpoint(localIdOf(id, 'WebhookEndpoint') ?? '')),
    redeliverWebhook: async (_p, { deliveryId }, ctx) => {
      const result = await ctx.domain.webhooks.redeliver(localIdOf(deliveryId, 'WebhookDelivery') ?? '');
      return 'problems' in result
        ? { delivery: null, userErrors: toUserErrors(result.problems) }
        : { delivery: result.delivery, userErrors: [] };
    },
  },
  WebhookEndpoint: {
    id: (e) => toGlobalId('WebhookEndpoint', String(e._id)),
    disabledReason: (e) => e.disabledReason ?? null,
    lastSuccessAt: (e) => e.lastSuccessAt ?? null,
    deliveries: async (e, args, ctx) => {
      const page = await ctx.domain.webhooks.listDeliveries(e._id, {
        status: args.status,
        first: args.first ?? 20,
        after: args.after,
      });
      if (!page) throw userInputError('after is not a cursor of this list', 'after');
      return page;
    },
  },
  WebhookDelivery: {
    id: (d) => toGlobalId('WebhookDelivery', d._id),
    endpoint: async (d, _a, ctx) => (await ctx.domain.webhooks.findEndpoint(String(d.endpointId)))!,
    responseCode: (d) => d.responseCode ?? null,
    lastError: (d) => d.lastError ?? null,
    nextAttemptAt: (d) => (d.status === 'PENDING' ? d.nextAttemptAt : null),
    deliveredAt: (d) => d.deliveredAt ?? null,
  },
  WebhookDeliveryConnection: connectionResolvers<DeliveryDoc>(),
} satisfies Resolvers;
