import { createCustomerLoaders } from '../modules/customers/loaders.js';
import type { Domain } from '../modules/domain.js';
import { createInteractionLoaders } from '../modules/interactions/loaders.js';
import type { SegmentPolicy } from '../modules/segments/policy.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { ServerRuntime } from '../shared/runtime.js';
import type { GraphQLContext } from './context.js';

/** A fresh context (and fresh DataLoaders) for one HTTP request or one WebSocket operation. */
export function createRequestContext(deps: {
  requestId: string;
  logger: Logger;
  clock: Clock;
  runtime: ServerRuntime;
  domain: Domain;
}): GraphQLContext {
  let policy: Promise<SegmentPolicy> | undefined;
  return {
    ...deps,
    loaders: {
      ...createCustomerLoaders(deps.domain.customers),
      ...createInteractionLoaders(deps.domain.interactions),
      policy: () => (policy ??= deps.domain.segments.getPolicy()),
    },
  };
}
