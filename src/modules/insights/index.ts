import type { DomainModule } from '../../app/module.js';
import { resolvers } from './resolvers.js';

export { createRfm } from './rfm.js';
export { averagePurchaseMinor, insightsFor } from './service.js';
export { createInsightLoaders, type ComplaintCounts } from './loaders.js';

/** The insights domain as the composition root sees it. */
export const insightsModule = {
  name: 'insights',
  indexedModels: [],
  resolvers,
} satisfies DomainModule;
