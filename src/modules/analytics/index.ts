import type { DomainModule } from '../../app/module.js';
import { resolvers } from './resolvers.js';

export { createAnalyticsService, type AnalyticsService } from './service.js';

/** The analytics domain as the composition root sees it. */
export const analyticsModule = {
  name: 'analytics',
  indexedModels: [],
  resolvers,
} satisfies DomainModule;
