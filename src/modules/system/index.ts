import type { DomainModule } from '../../app/module.js';
import { resolvers } from './resolvers.js';

export { readEventLogLag, readQueueDepths } from './service.js';
export { pruneRetainedData, type RetentionOutcome } from './retention.js';

/** The system domain as the composition root sees it. */
export const systemModule = {
  name: 'system',
  indexedModels: [],
  resolvers,
} satisfies DomainModule;
