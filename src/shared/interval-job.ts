import type { Logger } from './logger.js';
import { logBackgroundFailure } from '../db/health.js';

export type IntervalJob = {
  name: string;
  /**
   * Runs the work now (after the current run, if one is under way) and resolves when it is
   * done, even when the interval is 0: tests and operators ask for a run instead of waiting for
   * one. A failure is thrown to the caller here, not only logged.
   */
  runNow(): Promise<void>;
  stop(): Promise<void>;
};

/**
 * Runs `work` every `intervalMs` (never two runs at once; 0 disables the timer) until stopped. A
 * failed run is logged and the next one goes ahead as planned.
 */
export function startIntervalJob(
  name: string,
  intervalMs: number,
  work: () => Promise<unknown>,
  logger: Logger,
): IntervalJob {
  let running: Promise<unknown> | undefined;
  const runOnce = (): Promise<unknown> => {
    const run = work().finally(() => {
      if (running === run) running = undefined;
    });
    running = run;
    return run;
  };
  const timer =
    intervalMs > 0
      ? setInterval(() => {
          if (running) return;
          runOnce().catch((err: unknown) => logBackgroundFailure(logger, err, { job: name }, 'background job failed'));
        }, intervalMs)
      : undefined;
  timer?.unref();
  return {
    name,
    async runNow() {
      while (running) await running.catch(() => undefined);
      await runOnce();
    },
    async stop() {
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
