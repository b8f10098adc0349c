import DataLoader from 'dataloader';
import { createCustomerLoaders } from '../modules/customers/loaders.js';
import type { Domain } from '../modules/domain.js';
import type { Viewer } from '../modules/users/service.js';
import { createInteractionLoaders } from '../modules/interactions/loaders.js';
import type { SegmentPolicy } from '../modules/segments/policy.js';
import type { GraphQLContext } from './context.js';

function createLoaders(domain: Domain): GraphQLContext['loaders'] {
  let policy: Promise<SegmentPolicy> | undefined;
  return {
    ...createCustomerLoaders(domain.customers),
    ...createInteractionLoaders(domain.interactions),
    campaignById: new DataLoader((ids) => domain.campaigns.findByIds(ids), { maxBatchSize: 100 }),
    policy: () => (policy ??= domain.segments.getPolicy()),
  };
}

/** A fresh context (and fresh DataLoaders) for one HTTP request or one WebSocket operation. */
export function createRequestContext(deps: Omit<GraphQLContext, 'audit' | 'loaders'>): GraphQLContext {
  return { ...deps, audit: { calls: [], changes: [] }, loaders: createLoaders(deps.domain) };
}

/**
 * A subscription's context lives as long as the subscription: each event gets fresh loaders,
 * or a later event would be resolved with documents cached for an earlier one.
 */
export function refreshLoaders(ctx: GraphQLContext): void {
  ctx.loaders = createLoaders(ctx.domain);
}

/** The viewer behind an `Authorization: Bearer <token>` value; null when absent or not valid. */
export async function viewerFromAuthorization(domain: Domain, authorization: unknown): Promise<Viewer | null> {
  if (typeof authorization !== 'string') return null;
  const match = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  return match ? domain.users.viewerFromToken(match[1]!) : null;
}
