import type { Config } from '../config.js';
import { logBackgroundFailure, onDatabaseReturn } from '../db/health.js';
import type { Logger } from '../shared/logger.js';
import { startIntervalJob, type IntervalJob } from '../shared/interval-job.js';
import { pruneRetainedData } from '../modules/system/index.js';
import type { Domain } from './domain.js';

/**
 * The periodic background work of one process. Sweeps and repairs run on every process; the
 * workers (steps, deliveries, inactivity, retention) only where `isBackgroundWorker` is set.
 */
export function startBackgroundJobs(domain: Domain, config: Config, logger: Logger): IntervalJob[] {
  const workers = config.isBackgroundWorker;
  const poll = workers ? config.automation.pollMs : 0;
  const jobs: Array<[string, number, () => Promise<unknown>]> = [
    ['segment-sweep', config.segmentSweepIntervalMs, () => domain.segments.sweepTimeBasedSegments()],
    // A run takes due steps batch after batch until none is left: `runNow()` resolves when all were run.
    ['automation-steps', poll, () => domain.automation.runDueJobs()],
    // A run attempts every delivery due when it began: `runNow()` resolves when all were.
    ['webhook-deliveries', poll, () => domain.webhooks.deliverDue()],
    // A run resolves once the runs it found are scheduled as steps; `automation-steps` runs them.
    [
      'automation-inactivity',
      workers ? config.automation.inactivityIntervalMs : 0,
      () => domain.automation.scanInactivity(),
    ],
    // Events, finished automation work, settled deliveries (and audit entries) past retention.
    [
      'prune-retention',
      workers ? config.retention.pruneIntervalMs : 0,
      () => pruneRetainedData({ events: domain.events, logger, settings: config.retention }),
    ],
    [
      'repair-pending',
      config.repairIntervalMs,
      async () => {
        await domain.interactions.repairPendingApplications();
        await domain.campaigns.repairStats();
      },
    ],
  ];
  const started = jobs.map(([name, intervalMs, work]) => startIntervalJob(name, intervalMs, work, logger));
  // Writes that failed midway while the database was away are finished as soon as it returns.
  const repair = started.find((job) => job.name === 'repair-pending')!;
  const stopListening = onDatabaseReturn(() => {
    repair.runNow().catch((err: unknown) => logBackgroundFailure(logger, err, { job: repair.name }, 'repair failed'));
  });
  return started.map((job) => (job === repair ? { ...job, stop: () => (stopListening(), job.stop()) } : job));
}
