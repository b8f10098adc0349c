import type { Resolvers } from '../../generated/graphql.js';
import { connectionResolvers } from '../../graphql/connections.js';
import { pageSize } from '../../db/pagination.js';
import type { CustomerDoc } from './model.js';
import { isMasked, maskEmail, maskPhone } from '../../graphql/auth.js';
import { diffFields } from '../audit/index.js';
import { userInputError } from '../../graphql/errors.js';
import { toUserErrors } from '../../graphql/payloads.js';
import { fromGlobalId, localIdOf, toGlobalId } from '../../shared/ids.js';
import { notFound } from '../../shared/problems.js';
import { toMoney } from '../../shared/money.js';
import { averagePurchaseMinor, insightsFor } from '../insights/index.js';

const NOT_FOUND = toUserErrors(notFound('customer').problems);

export const resolvers = {
  Query: {
    node: async (_p, { id }, ctx) => {
      const parsed = fromGlobalId(id);
      if (!parsed) return null;
      if (parsed.type === 'Customer') return ctx.loaders.customerById.load(parsed.localId);
      if (parsed.type === 'User')
        return ctx.viewer?.role === 'ADMIN' ? ctx.domain.users.findById(parsed.localId) : null;
      const role = ctx.viewer?.role;
      if (parsed.type === 'AutomationRule')
        return role === 'ADMIN' || role === 'MARKETING' ? ctx.domain.automation.findRule(parsed.localId) : null;
      if (parsed.type === 'Task' || parsed.type === 'Alert') {
        const item =
          parsed.type === 'Task'
            ? await ctx.domain.automation.findTask(parsed.localId)
            : await ctx.domain.automation.findAlert(parsed.localId);
        const departments = item ? ('department' in item ? [item.department] : item.departments) : [];
        return role === 'ADMIN' || departments.some((d) => d === role) ? item : null;
      }
      if (parsed.type === 'WebhookEndpoint' || parsed.type === 'WebhookDelivery') {
        if (role !== 'ADMIN') return null;
        return parsed.type === 'WebhookEndpoint'
          ? ctx.domain.webhooks.findEndpoint(parsed.localId)
          : ctx.domain.webhooks.findDelivery(parsed.localId);
      }
      if (parsed.type === 'Campaign' || parsed.type === 'CampaignDelivery') {
        // Campaign results are not for SUPPORT, who sees no marketing or money data.
        if (ctx.viewer?.role === 'SUPPORT') return null;
        return parsed.type === 'Campaign'
          ? ctx.loaders.campaignById.load(parsed.localId)
          : ctx.domain.campaigns.findDelivery(parsed.localId);
      }
      return ctx.domain.interactions.findById(parsed.localId);
    },
    customer: async (_p, { id }, ctx) => {
      const localId = localIdOf(id, 'Customer');
      return localId ? ctx.loaders.customerById.load(localId) : null;
    },
    customers: async (_p, args, ctx) => {
      const page = await ctx.domain.customers.listCustomers({
        filter: args.filter,
        orderBy: args.orderBy,
        first: args.first ?? 20,
        after: args.after,
        contactDetails: !isMasked(ctx),
      });
      if ('problem' in page) throw userInputError(page.problem.message, (page.problem.field ?? []).join('.'));
      for (const { node } of page.items) ctx.loaders.customerById.prime(String(node._id), node);
      return page;
    },
  },
  Mutation: {
    deleteCustomer: async (_p, { id }, ctx) => {
      const localId = localIdOf(id, 'Customer');
      if (!localId) return { deletedId: null, userErrors: NOT_FOUND };
      const result = await ctx.domain.customers.deleteCustomer(localId);
      if ('problems' in result) return { deletedId: null, userErrors: toUserErrors(result.problems) };
      ctx.audit.changes.push({
        targetId: id,
        field: 'erasedAt',
        before: null,
        after: JSON.stringify(result.customer.erasedAt),
      });
      return { deletedId: id, userErrors: [] };
    },
    mergeCustomers: async (_p, { primaryId, duplicateId }, ctx) => {
      const result = await ctx.domain.customers.mergeCustomers(
        localIdOf(primaryId, 'Customer') ?? '',
        localIdOf(duplicateId, 'Customer') ?? '',
      );
      if ('problems' in result) return { customer: null, userErrors: toUserErrors(result.problems) };
      ctx.audit.changes.push({
        targetId: duplicateId,
        field: 'mergedInto',
        before: null,
        after: JSON.stringify(primaryId),
      });
      return { customer: result.customer, userErrors: [] };
    },
    createCustomer: async (_p, { input }, ctx) => {
      const result = await ctx.domain.customers.createCustomer(input);
      if ('problems' in result) return { customer: null, userErrors: toUserErrors(result.problems) };
      // Names the new customer in the audit entry, whose arguments erasure must find.
      ctx.audit.changes.push({
        targetId: toGlobalId('Customer', String(result.customer._id)),
        field: 'createdAt',
        before: null,
        after: JSON.stringify(result.customer.createdAt),
      });
      return { customer: result.customer, userErrors: [] };
    },
    updateCustomer: async (_p, { id, input }, ctx) => {
      const localId = localIdOf(id, 'Customer');
      if (!localId) return { customer: null, userErrors: NOT_FOUND };
      const before = await ctx.domain.customers.findById(localId);
      const result = await ctx.domain.customers.updateCustomer(localId, input);
      if ('problems' in result) return { customer: null, userErrors: toUserErrors(result.problems) };
      if (before)
        ctx.audit.changes.push(...diffFields(id, before, result.customer, ['name', 'email', 'phone', 'tags']));
      return { customer: result.customer, userErrors: [] };
    },
  },
  Node: {
    __resolveType: (node) =>
      'trigger' in node
        ? 'AutomationRule'
        : 'department' in node
          ? 'Task'
          : 'severity' in node
            ? 'Alert'
            : 'secret' in node
              ? 'WebhookEndpoint'
              : 'endpointId' in node
                ? 'WebhookDelivery'
                : 'targetSegments' in node
                  ? 'Campaign'
                  : 'ordinal' in node
                    ? 'CampaignDelivery'
                    : 'code' in node
                      ? 'Customer'
                      : 'passwordHash' in node
                        ? 'User'
                        : 'requestId' in node
                          ? 'AuditEntry'
                          : 'Interaction',
  },
  Customer: {
    id: (c) => toGlobalId('Customer', String(c._id)),
    email: (c, _a, ctx) => (c.email ? (isMasked(ctx) ? maskEmail(c.email) : c.email) : null),
    phone: (c, _a, ctx) => (c.phone ? (isMasked(ctx) ? maskPhone(c.phone) : c.phone) : null),
    totalPurchases: (c, _a, ctx) => toMoney(c.totalPurchasesMinor, ctx.domain.currency),
    averagePurchase: (c, _a, ctx) => {
      const avg = averagePurchaseMinor(c);
      return avg === null ? null : toMoney(avg, ctx.domain.currency);
    },
    lastInteractionAt: (c) => c.lastInteractionAt ?? null,
    mergedInto: (c, _a, ctx) => (c.mergedIntoId ? ctx.loaders.customerById.load(String(c.mergedIntoId)) : null),
    interactions: async (c, args, ctx) => {
      const first = args.first ?? 20;
      if (!args.after) {
        const page = await ctx.loaders.firstTimelinePage.load({
          customerId: String(c._id),
          first,
          types: args.types ?? null,
        });
        // Without a type filter the stored count answers, with no scan.
        return args.types?.length ? page : { ...page, totalCount: async () => c.interactionCount };
      }
      const page = await ctx.domain.interactions.listInteractions({
        filter: { customerId: String(c._id), types: args.types },
        first,
        after: args.after,
      });
      if ('problem' in page) throw userInputError(page.problem.message, 'after');
      return page;
    },
    insights: async (c, _a, ctx) => insightsFor(c, await ctx.loaders.policy(), ctx.clock.now()),
    segmentHistory: (c, { first }, ctx) => ctx.domain.segments.history(c._id, pageSize(first ?? 20)),
  },
  CustomerConnection: connectionResolvers<CustomerDoc>(),
} satisfies Resolvers;
