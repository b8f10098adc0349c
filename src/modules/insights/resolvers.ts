import type { Resolvers } from '../../generated/graphql.js';
import { localIdOf } from '../../shared/ids.js';
import { toMoney } from '../../shared/money.js';
import { insightsFor, nextBestActions } from './service.js';

export const resolvers = {
  Query: {
    customerInsights: async (_p, { id }, ctx) => {
      const localId = localIdOf(id, 'Customer');
      const customer = localId ? await ctx.loaders.customerById.load(localId) : null;
      return customer ? insightsFor(customer, await ctx.loaders.policy(), ctx.clock.now()) : null;
    },
  },
  CustomerInsights: {
    totalPurchases: (i, _a, ctx) => toMoney(i.totalPurchasesMinor, ctx.domain.currency),
    averagePurchase: (i, _a, ctx) =>
      i.averagePurchaseMinor === null ? null : toMoney(i.averagePurchaseMinor, ctx.domain.currency),
    lifetimeValue: (i, _a, ctx) => toMoney(i.lifetimeValueMinor, ctx.domain.currency),
    historicalValue: (i, _a, ctx) => toMoney(i.totalPurchasesMinor, ctx.domain.currency),
    predictedValue: (i, _a, ctx) => toMoney(i.lifetimeValueMinor - i.totalPurchasesMinor, ctx.domain.currency),
    rfm: (i, _a, ctx) => ctx.domain.rfm(i.customer, ctx.clock.now()),
    nextBestActions: async (i, _a, ctx) => {
      const now = ctx.clock.now();
      // Batched: a page of customers' actions reads their complaints together.
      const complaints = await ctx.loaders.complaintsLast7Days.load(String(i.customer._id));
      return nextBestActions(i.customer, await ctx.loaders.policy(), complaints, now);
    },
  },
} satisfies Resolvers;
