import DataLoader from 'dataloader';
import type { Page } from '../../db/pagination.js';
import type { InteractionDoc, InteractionType } from './model.js';
import type { InteractionsService } from './service.js';

export type TimelineKey = { customerId: string; first: number; types: InteractionType[] | null };

/**
 * Per request: the first timeline page of every customer on a page of customers, in one
 * query per distinct (first, types) — never one query per customer.
 */
export function createInteractionLoaders(interactions: InteractionsService) {
  return {
    firstTimelinePage: new DataLoader<TimelineKey, Page<InteractionDoc>, string>(
      async (keys) => {
        const groups = new Map<string, TimelineKey[]>();
        for (const k of keys) {
          const g = `${k.first}|${k.types?.join(',') ?? ''}`;
          groups.set(g, [...(groups.get(g) ?? []), k]);
        }
        const results = new Map<string, Page<InteractionDoc>>();
        await Promise.all(
          [...groups.values()].map(async (group) => {
            const pages = await interactions.firstPagesForCustomers(
              group.map((k) => k.customerId),
              group[0]!.first,
              group[0]!.types,
            );
            group.forEach((k, i) => results.set(timelineKey(k), pages[i]!));
          }),
        );
        return keys.map((k) => results.get(timelineKey(k))!);
      },
      { cacheKeyFn: timelineKey, maxBatchSize: 200 },
    ),
  };
}

function timelineKey(k: TimelineKey): string {
  return `${k.customerId}|${k.first}|${k.types?.join(',') ?? ''}`;
}
