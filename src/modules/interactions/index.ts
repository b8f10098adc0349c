import type { DomainModule } from '../../app/module.js';
import { Interaction } from './model.js';
import { resolvers } from './resolvers.js';

export { createInteractionsService } from './service.js';
export { createInteractionLoaders } from './loaders.js';

/** The interactions domain as the composition root sees it. */
export const interactionsModule = {
  name: 'interactions',
  indexedModels: [Interaction],
  resolvers,
} satisfies DomainModule;
export { interactionsByCustomer, type Channel, type InteractionDoc } from './history.js';
