import type { DomainModule } from '../../app/module.js';
import { Customer } from './model.js';
import { resolvers } from './resolvers.js';

export { createCustomersService } from './service.js';
export { eraseCustomer, eventPersonalData } from './erasure.js';
export { mergeCustomers } from './merge.js';
export { upgradeSearchKeys } from './search-keys-upgrade.js';
export { createCustomerLoaders } from './loaders.js';

/** The customers domain as the composition root sees it. */
export const customersModule = {
  name: 'customers',
  indexedModels: [Customer],
  resolvers,
} satisfies DomainModule;
export * from './records.js';
export { markCustomerUnsubscribed } from './subscription.js';
export { addCustomerTag, removeCustomerTag } from './tags.js';
export {
  incrementAggregates,
  replaceAggregates,
  incrementAggregatesMany,
  type AggregatesIncrement,
  type AggregatesTotals,
} from './aggregates.js';
export {
  assignSegment,
  assignSegments,
  countCustomersBySegment,
  type SegmentAssignment,
} from './segment-assignment.js';
export { InvalidFieldError, normalizeEmail, normalizeName } from './normalize.js';
