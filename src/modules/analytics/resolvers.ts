import type { Resolvers } from '../../generated/graphql.js';
import { userInputError } from '../../graphql/errors.js';
import { localIdOf } from '../../shared/ids.js';
import { toMoney } from '../../shared/money.js';
import { readCohorts, readDashboard, type Point } from './service.js';

export const resolvers = {
  Mutation: {
    rebuildAnalytics: (_p, _a, ctx) => ctx.domain.analytics.startRebuild(),
  },
  Query: {
    analyticsRebuild: (_p, _a, ctx) => ctx.domain.analytics.status(),
    cohortRetention: async (_p, { to, months }, ctx) => {
      const n = months ?? 12;
      if (!Number.isInteger(n) || n < 1 || n > 24) throw userInputError('months must be 1 to 24', 'months');
      return readCohorts(to ?? ctx.clock.now(), n);
    },
    dashboard: async (_p, { from, to, granularity, filter }, ctx) => {
      const view = await readDashboard(ctx.domain.segments, {
        from,
        to,
        granularity: granularity ?? 'DAY',
        filter: {
          ...filter,
          campaignId: filter?.campaignId ? (localIdOf(filter.campaignId, 'Campaign') ?? 'x') : null,
        },
      });
      if ('problem' in view) throw userInputError(view.problem, 'to');
      const money = (minor: number) => toMoney(minor, ctx.domain.currency);
      const moneyKpi = (k: { total: number; series: Point[] }) => ({
        total: money(k.total),
        series: k.series.map((p) => ({ start: p.start, value: money(p.value) })),
      });
      return {
        ...view,
        revenue: moneyKpi(view.revenueMinor),
        averageOrderValue: moneyKpi(view.averageOrderMinor),
        campaigns: { ...view.campaigns, revenue: money(view.campaigns.revenueMinor) },
      };
    },
  },
} satisfies Resolvers;
