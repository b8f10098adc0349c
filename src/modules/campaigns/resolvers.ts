import type { Resolvers } from '../../generated/graphql.js';
import { connectionResolvers } from '../../graphql/connections.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { userInputError } from '../../graphql/errors.js';
import { eventCursor, subscribeToEvents } from '../../graphql/event-stream.js';
import { toUserErrors } from '../../graphql/payloads.js';
import { localIdOf, toGlobalId } from '../../shared/ids.js';
import { toMoney } from '../../shared/money.js';
import { notFound } from '../../shared/problems.js';
import { diffFields } from '../audit/index.js';
import type { EventDoc } from '../../events/model.js';
import type { CampaignResult } from './lifecycle.js';
import type { CampaignDoc, CampaignStatsDoc, DeliveryDoc } from './model.js';

const NOT_FOUND = toUserErrors(notFound('campaign').problems);
const EDITABLE = ['name', 'targetSegments', 'message', 'channel', 'scheduledAt', 'attributionWindowDays'] as const;

function toPayload(result: CampaignResult) {
  return 'problems' in result
    ? { campaign: null, userErrors: toUserErrors(result.problems) }
    : { campaign: result.campaign, userErrors: [] };
}

/** A lifecycle mutation: the campaign id checked, the status change audited. */
async function transition(
  id: string,
  ctx: GraphQLContext,
  run: (localId: string) => Promise<CampaignResult>,
): Promise<ReturnType<typeof toPayload>> {
  const localId = localIdOf(id, 'Campaign');
  if (!localId) return { campaign: null, userErrors: NOT_FOUND };
  const before = await ctx.domain.campaigns.findById(localId);
  const result = await run(localId);
  if (before && 'campaign' in result) ctx.audit.changes.push(...diffFields(id, before, result.campaign, ['status']));
  return toPayload(result);
}

function rate(part: number, whole: number): number {
  return whole > 0 ? part / whole : 0;
}

export const resolvers = {
  Query: {
    campaign: (_p, { id }, ctx) => {
      const localId = localIdOf(id, 'Campaign');
      return localId ? ctx.loaders.campaignById.load(localId) : null;
    },
    campaigns: async (_p, args, ctx) => {
      const page = await ctx.domain.campaigns.listCampaigns({
        filter: args.filter,
        first: args.first ?? 20,
        after: args.after,
      });
      if (!page) throw userInputError('after is not a cursor of this list', 'after');
      for (const { node } of page.items) ctx.loaders.campaignById.prime(String(node._id), node);
      return page;
    },
    outboxMessages: async (_p, args, ctx) => {
      const page = await ctx.domain.campaigns.listOutbox(localIdOf(args.campaignId, 'Campaign') ?? '', {
        first: args.first ?? 20,
        after: args.after,
      });
      if (!page) throw userInputError('after is not a cursor of this list', 'after');
      return page;
    },
  },
  Mutation: {
    createCampaign: async (_p, { input }, ctx) => toPayload(await ctx.domain.campaigns.createCampaign(input)),
    updateCampaign: async (_p, { id, input }, ctx) => {
      const localId = localIdOf(id, 'Campaign');
      if (!localId) return { campaign: null, userErrors: NOT_FOUND };
      const before = await ctx.domain.campaigns.findById(localId);
      const result = await ctx.domain.campaigns.updateCampaign(localId, input);
      if (before && 'campaign' in result) ctx.audit.changes.push(...diffFields(id, before, result.campaign, EDITABLE));
      return toPayload(result);
    },
    executeCampaign: (_p, { id }, ctx) =>
      transition(id, ctx, (localId) => ctx.domain.campaigns.executeCampaign(localId)),
    cancelCampaign: (_p, { id }, ctx) => transition(id, ctx, (localId) => ctx.domain.campaigns.cancelCampaign(localId)),
    recordCampaignResponse: async (_p, { input }, ctx) => {
      const result = await ctx.domain.campaigns.recordResponse({
        campaignId: localIdOf(input.campaignId, 'Campaign') ?? '',
        customerId: localIdOf(input.customerId, 'Customer') ?? '',
        kind: input.kind,
      });
      if ('problems' in result) return { delivery: null, recorded: false, userErrors: toUserErrors(result.problems) };
      return { delivery: result.delivery, recorded: result.recorded, userErrors: [] };
    },
  },
  Subscription: {
    campaignProgress: {
      subscribe: (_p, { campaignId, after }, ctx) => {
        const campaign = campaignId != null ? (localIdOf(campaignId, 'Campaign') ?? '') : null;
        return subscribeToEvents(
          ctx,
          after,
          (e) => e.type === 'CAMPAIGN_PROGRESS' && (campaign === null || e.payload.campaignId === campaign),
        );
      },
      resolve: (e: EventDoc<'CAMPAIGN_PROGRESS'>, _a: unknown, ctx: GraphQLContext) => {
        ctx.renewLoaders();
        return { ...e.payload, cursor: eventCursor(e.seq) };
      },
    },
  },
  Campaign: {
    id: (c) => toGlobalId('Campaign', String(c._id)),
    scheduledAt: (c) => c.scheduledAt ?? null,
    startedAt: (c) => c.startedAt ?? null,
    completedAt: (c) => c.completedAt ?? null,
    failureReason: (c) => c.failureReason ?? null,
    deliveries: async (c, args, ctx) => {
      const page = await ctx.domain.campaigns.listDeliveries(c, {
        status: args.status,
        first: args.first ?? 20,
        after: args.after,
      });
      if (!page) throw userInputError('after is not a cursor of this list', 'after');
      return page;
    },
  },
  CampaignStats: {
    responseRate: (s: CampaignStatsDoc) => rate(s.responded, s.delivered),
    conversionRate: (s: CampaignStatsDoc) => rate(s.conversions, s.delivered),
    revenue: (s: CampaignStatsDoc, _a, ctx) => toMoney(s.revenueMinor, ctx.domain.currency),
  },
  CampaignDelivery: {
    id: (d) => toGlobalId('CampaignDelivery', d._id),
    campaign: async (d, _a, ctx) => (await ctx.loaders.campaignById.load(String(d.campaignId)))!,
    customer: async (d, _a, ctx) => (await ctx.loaders.customerById.load(String(d.customerId)))!,
    error: (d) => d.error ?? null,
    openedAt: (d: DeliveryDoc) => d.responses.OPENED ?? null,
    clickedAt: (d: DeliveryDoc) => d.responses.CLICKED ?? null,
    repliedAt: (d: DeliveryDoc) => d.responses.REPLIED ?? null,
    unsubscribedAt: (d: DeliveryDoc) => d.responses.UNSUBSCRIBED ?? null,
  },
  OutboxMessage: {
    id: (m: DeliveryDoc) => toGlobalId('CampaignDelivery', m._id),
    campaign: async (m, _a, ctx) => (await ctx.loaders.campaignById.load(String(m.campaignId)))!,
    customer: async (m, _a, ctx) => (await ctx.loaders.customerById.load(String(m.customerId)))!,
    email: (m) => m.email ?? null,
    phone: (m) => m.phone ?? null,
    body: (m) => m.message,
    createdAt: (m) => m.sentAt,
  },
  CampaignProgressEvent: {
    campaign: async (e, _a, ctx) => (await ctx.loaders.campaignById.load(e.campaignId))!,
  },
  CampaignConnection: connectionResolvers<CampaignDoc>(),
  CampaignDeliveryConnection: connectionResolvers<DeliveryDoc>(),
  OutboxMessageConnection: connectionResolvers<DeliveryDoc>(),
} satisfies Resolvers;
