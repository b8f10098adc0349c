import type { Logger } from './logger.js';

/**
 * Runs `work` every `intervalMs` (never two runs at once; 0 disables) until stopped. A failed
 * run is logged and the next one goes ahead as planned.
 */
export function startIntervalJob(
  name: string,
  intervalMs: number,
  work: () => Promise<unknown>,
  logger: Logger,
): { stop(): Promise<void> } {
  if (intervalMs <= 0) return { stop: async () => {} };
  let running: Promise<unknown> | undefined;
  const timer = setInterval(() => {
    if (running) return;
    running = work()
      .catch((err: unknown) => logger.error({ err, job: name }, 'background job failed'))
      .finally(() => {
        running = undefined;
      });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
