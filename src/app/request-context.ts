import { createAutomationLoaders } from '../modules/automation/index.js';
import { createCampaignLoaders } from '../modules/campaigns/index.js';
import { createCustomerLoaders } from '../modules/customers/index.js';
import { createInsightLoaders } from '../modules/insights/index.js';
import { createInteractionLoaders } from '../modules/interactions/index.js';
import { createSegmentLoaders } from '../modules/segments/index.js';
import type { Viewer } from '../modules/users/service.js';
import type { GraphQLContext } from '../graphql/context.js';
import type { Domain } from './domain.js';

/** Every domain's DataLoaders, fresh: one set per request (or per subscription event). */
function createLoaders(domain: Domain): GraphQLContext['loaders'] {
  return {
    ...createCustomerLoaders(domain.customers),
    ...createInteractionLoaders(domain.interactions),
    ...createCampaignLoaders(domain.campaigns),
    ...createSegmentLoaders(domain.segments),
    ...createInsightLoaders(domain.insights),
    ...createAutomationLoaders(domain.automation),
  };
}

/**
 * The loaders live behind a getter on the prototype, made when a resolver first asks (most
 * operations touch few, some none). On the prototype, not the object: Apollo copies each
 * context's own properties into a new object per operation, which would run an own getter.
 */
const contextPrototype = {
  get loaders(): GraphQLContext['loaders'] {
    const ctx = this as unknown as { domain: Domain; lazyLoaders?: GraphQLContext['loaders'] };
    return (ctx.lazyLoaders ??= createLoaders(ctx.domain));
  },
  // A subscription's context lives as long as the subscription: each event gets fresh
  // loaders, or a later event would be resolved with documents cached for an earlier one.
  renewLoaders(this: { lazyLoaders?: unknown }): void {
    this.lazyLoaders = undefined;
  },
};

/** A fresh context (and fresh DataLoaders) for one HTTP request or one WebSocket operation. */
export function createRequestContext(deps: Omit<GraphQLContext, 'audit' | 'loaders' | 'renewLoaders'>): GraphQLContext {
  return Object.assign(Object.create(contextPrototype) as GraphQLContext, deps, {
    audit: { calls: [], changes: [] },
    lazyLoaders: undefined,
  });
}

function bearerToken(authorization: unknown): string | null {
  if (typeof authorization !== 'string') return null;
  return /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1] ?? null;
}

/** The viewer behind an `Authorization: Bearer <token>` value; null when absent or not valid. */
export async function viewerFromAuthorization(domain: Domain, authorization: unknown): Promise<Viewer | null> {
  const token = bearerToken(authorization);
  return token ? domain.users.viewerFromToken(token) : null;
}

/**
 * The same, without waiting: from what was verified a moment ago; undefined when that is not
 * known now (then `viewerFromAuthorization` finds out).
 */
export function cachedViewerFromAuthorization(domain: Domain, authorization: unknown): Viewer | null | undefined {
  const token = bearerToken(authorization);
  return token ? domain.users.cachedViewerOf(token) : null;
}
