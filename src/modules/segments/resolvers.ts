import type { Resolvers } from '../../generated/graphql.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { eventCursor, subscribeToEvents } from '../../graphql/event-stream.js';
import { localIdOf } from '../../shared/ids.js';
import { diffFields } from '../audit/index.js';
import { MoneyError, parseAmount, toMoney } from '../../shared/money.js';
import type { EventDoc } from '../../events/model.js';
import { SEGMENTS, type SegmentPolicy } from '../../shared/segment-policy.js';

export const resolvers = {
  Query: {
    segmentPolicy: (_p, _a, ctx) => ctx.loaders.policy(),
    segmentSummary: async (_p, _a, ctx) => {
      const counts = await ctx.domain.segments.segmentCounts();
      return SEGMENTS.map((segment) => ({ segment, count: counts[segment] }));
    },
  },
  Mutation: {
    updateSegmentPolicy: async (_p, { input }, ctx) => {
      const changes: Partial<Omit<SegmentPolicy, 'updatedAt'>> = {};
      if (input.vipMinTotalPurchases != null) {
        try {
          changes.vipMinTotalMinor = parseAmount(input.vipMinTotalPurchases, ctx.domain.currency);
        } catch (err) {
          if (!(err instanceof MoneyError)) throw err;
          return {
            policy: null,
            changedCount: 0,
            userErrors: [{ field: ['input', 'vipMinTotalPurchases'], message: err.message, code: 'INVALID' }],
          };
        }
      }
      if (input.churnedAfterDays != null) changes.churnedAfterDays = input.churnedAfterDays;
      if (input.atRiskAfterDays != null) changes.atRiskAfterDays = input.atRiskAfterDays;
      if (input.loyalMinPurchases != null) changes.loyalMinPurchases = input.loyalMinPurchases;
      const before = await ctx.domain.segments.getPolicy();
      const result = await ctx.domain.segments.updatePolicy(changes);
      if (result.ok) {
        const fields = ['vipMinTotalMinor', 'churnedAfterDays', 'atRiskAfterDays', 'loyalMinPurchases'] as const;
        ctx.audit.changes.push(...diffFields('segmentPolicy', before, result.policy, fields));
      }
      if (!result.ok)
        return {
          policy: null,
          changedCount: 0,
          userErrors: result.problems.map((message) => ({ field: ['input'], message, code: 'INVALID' })),
        };
      return { policy: result.policy, changedCount: result.changedCount, userErrors: [] };
    },
    sweepSegments: (_p, _a, ctx) => ctx.domain.segments.sweepTimeBasedSegments(),
  },
  Subscription: {
    segmentChanged: {
      subscribe: (_p, { segments, customerId, after }, ctx) => {
        const customer = customerId != null ? (localIdOf(customerId, 'Customer') ?? '') : null;
        return subscribeToEvents(ctx, after, (e) => {
          if (e.type !== 'SEGMENT_CHANGED') return false;
          const change = e.payload;
          return (
            (customer === null || String(change.customer._id) === customer) &&
            (!segments?.length || segments.includes(change.to))
          );
        });
      },
      resolve: (e: EventDoc<'SEGMENT_CHANGED'>, _a: unknown, ctx: GraphQLContext) => {
        ctx.renewLoaders();
        return { ...e.payload, cursor: eventCursor(e.seq) };
      },
    },
  },
  SegmentPolicy: {
    vipMinTotalPurchases: (p, _a, ctx) => toMoney(p.vipMinTotalMinor, ctx.domain.currency),
    updatedAt: (p) => p.updatedAt ?? null,
  },
} satisfies Resolvers;
