import type { Page } from '../db/pagination.js';

/** The fields every Relay connection resolves the same way from a service's Page. */
export function connectionResolvers<T>() {
  return {
    edges: (page: Page<T>) => page.items,
    pageInfo: (page: Page<T>) => ({
      hasNextPage: page.hasNextPage,
      hasPreviousPage: page.hasPreviousPage,
      startCursor: page.items[0]?.cursor ?? null,
      endCursor: page.items.at(-1)?.cursor ?? null,
    }),
    totalCount: (page: Page<T>) => page.totalCount(),
  };
}
