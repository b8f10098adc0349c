import type { EventDoc } from '../../events/model.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { SegmentsService } from '../segments/service.js';
import { readCohorts } from './cohorts.js';
import { createEventCounter } from './counting.js';
import { cachedActiveCustomersCount, readDashboard, type DashboardFilter, type Granularity } from './dashboard.js';
import { createAnalyticsRebuilder } from './rebuild.js';

export type AnalyticsService = ReturnType<typeof createAnalyticsService>;

/**
 * The analytics of one process: the event consumer's counting, the dashboard and cohort reads
 * over the counters, and the rebuild of the counters from the stored facts.
 */
export function createAnalyticsService(deps: {
  clock: Clock;
  logger: Logger;
  /** How long a rebuild's lease lasts without renewal (a crashed holder's is taken over after it). */
  leaseMs: number;
  segments: Pick<SegmentsService, 'segmentCounts'>;
  /** The seq up to which this process's event log has seen events (it reads the state after them). */
  logPosition: () => number;
  /** The events after a seq this process's log holds in memory. */
  heldAfter: (afterSeq: number, toSeq: number) => EventDoc[];
}) {
  const rebuilder = createAnalyticsRebuilder(deps);
  const counter = createEventCounter(deps);
  const dashboardSources = { segments: deps.segments, activeCustomers: cachedActiveCustomersCount() };
  return {
    ...rebuilder,
    countEvent: counter.countEvent,
    /** Writes what `countEvent` counted so far: before the consumer stores its position. */
    flushCounts: counter.flush,
    readDashboard: (args: { from: Date; to: Date; granularity: Granularity; filter: DashboardFilter }) =>
      readDashboard(dashboardSources, args),
    readCohorts,
  };
}
