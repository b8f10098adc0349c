import DataLoader from 'dataloader';
import { Types } from 'mongoose';
import type { Clock } from '../../shared/clock.js';

/** How many complaints each of these customers filed in the 7 days up to `at`, in their order. */
export type ComplaintCounts = (customerIds: Types.ObjectId[], at: Date) => Promise<number[]>;

/**
 * Per request: the complaint counts the next best actions of a page of customers need, read
 * for all of them at once rather than once per customer. The automation domain keeps the
 * complaints; the composition root injects its count.
 */
export function createInsightLoaders(deps: { clock: Clock; complaintsInWeekOf: ComplaintCounts }) {
  return {
    complaintsLast7Days: new DataLoader<string, number>(
      (ids) =>
        deps.complaintsInWeekOf(
          ids.map((id) => new Types.ObjectId(id)),
          deps.clock.now(),
        ),
      { maxBatchSize: 500 },
    ),
  };
}
