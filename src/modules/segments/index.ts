import type { DomainModule } from '../../app/module.js';
import { SegmentChange } from './model.js';
import { resolvers } from './resolvers.js';

export { createSegmentsService } from './service.js';
export { createSegmentLoaders } from './loaders.js';

/** The segments domain as the composition root sees it. */
export const segmentsModule = {
  name: 'segments',
  indexedModels: [SegmentChange],
  resolvers,
} satisfies DomainModule;
export { segmentChangesByCustomer, type SegmentChangeDoc } from './history.js';
