import DataLoader from 'dataloader';
import type { CustomerDoc } from './model.js';
import type { CustomersService } from './service.js';

/** Per request: every customer looked up by id in one resolver pass becomes one query. */
export function createCustomerLoaders(customers: CustomersService) {
  return {
    customerById: new DataLoader<string, CustomerDoc | null>((ids) => customers.findByIds(ids), { maxBatchSize: 500 }),
  };
}
