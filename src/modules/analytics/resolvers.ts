import type { DashboardFilter, Resolvers } from '../../generated/graphql.js';
import type { GraphQLContext } from '../../graphql/context.js';
import { userInputError } from '../../graphql/errors.js';
import { DAY_MS } from '../../shared/clock.js';
import { localIdOf } from '../../shared/ids.js';
import { toMoney } from '../../shared/money.js';
import { MAX_DAYS, type Point } from './dashboard.js';
import { dashboardTicks } from './live.js';

export const resolvers = {
  Mutation: {
    rebuildAnalytics: (_p, _a, ctx) => ctx.domain.analytics.startRebuild(),
  },
  Query: {
    analyticsRebuild: (_p, _a, ctx) => ctx.domain.analytics.status(),
    cohortRetention: async (_p, { to, months }, ctx) => {
      const n = months ?? 12;
      if (!Number.isInteger(n) || n < 1 || n > 24) throw userInputError('months must be 1 to 24', 'months');
      return ctx.domain.analytics.readCohorts(to ?? ctx.clock.now(), n);
    },
    dashboard: (_p, { from, to, granularity, filter }, ctx) =>
      dashboardOf(ctx, { from, to, granularity: granularity ?? 'DAY', filter: filter ?? null }),
  },
  Subscription: {
    dashboardLive: {
      subscribe: (_p, { days }, ctx) => {
        const n = days ?? 30;
        if (!Number.isInteger(n) || n < 1 || n > MAX_DAYS)
          throw userInputError(`days must be 1 to ${MAX_DAYS}`, 'days');
        return dashboardTicks(ctx.domain.events);
      },
      resolve: (_tick: unknown, { days }: { days?: number | null }, ctx: GraphQLContext) => {
        const to = ctx.clock.now();
        const from = new Date(to.getTime() - ((days ?? 30) - 1) * DAY_MS);
        return dashboardOf(ctx, { from, to, granularity: 'DAY', filter: null });
      },
    },
  },
} satisfies Resolvers;

async function dashboardOf(
  ctx: GraphQLContext,
  args: { from: Date; to: Date; granularity: 'DAY' | 'WEEK' | 'MONTH'; filter: DashboardFilter | null },
) {
  const { from, to, granularity, filter } = args;
  const view = await ctx.domain.analytics.readDashboard({
    from,
    to,
    granularity,
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
}
