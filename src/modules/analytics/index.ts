import type { DomainModule } from '../../app/module.js';
import { resolvers } from './resolvers.js';

export { createAnalyticsRebuilder } from './rebuild.js';
export { countEvent } from './service.js';

/** The analytics domain as the composition root sees it. */
export const analyticsModule = {
  name: 'analytics',
  indexedModels: [],
  resolvers,
} satisfies DomainModule;
