import type { Logger } from '../../shared/logger.js';
import { markDatabaseUnavailable } from '../health.js';
import type { RunningEngine } from './engine.js';

export class EngineGaveUpError extends Error {
  override name = 'EngineGaveUpError';
}

export type SupervisedEngine = {
  uri: string;
  port: number;
  dataDir: string;
  /** The engine's current watchdog pid (it changes with each restart). */
  readonly pid: number;
  /** Stops supervising, then the engine; safe to call more than once. */
  stop(): Promise<void>;
};

/** How many unexpected exits within `windowMs` are a crash loop, not bad luck. */
const DEFAULT_MAX_RESTARTS = 5;
const DEFAULT_WINDOW_MS = 60_000;
const MAX_BACKOFF_MS = 4_000;

/**
 * Keeps the embedded engine running: when it exits without being asked to (killed by the OOM
 * killer, crashed), it is started again on the same data folder and the same port, so the
 * driver's connection string stays valid and it reconnects by itself. SQLite's journal makes
 * every write the engine acknowledged survive the crash. After `maxRestarts` exits or failed
 * starts within `windowMs`, supervision gives up and `onGiveUp` is told why.
 */
export function superviseEngine(opts: {
  first: RunningEngine;
  start: (port: number) => Promise<RunningEngine>;
  logger: Logger;
  onGiveUp: (err: EngineGaveUpError) => void;
  maxRestarts?: number;
  windowMs?: number;
}): SupervisedEngine {
  const { logger } = opts;
  const maxRestarts = opts.maxRestarts ?? DEFAULT_MAX_RESTARTS;
  const windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
  let current = opts.first;
  let isStopping = false;
  const failures: number[] = [];
  const abort = new AbortController();

  const backoff = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      abort.signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });

  /** Records a failure; true when there were too many within the window. */
  const isCrashLoop = () => {
    const now = Date.now();
    failures.push(now);
    while (failures.length && failures[0]! < now - windowMs) failures.shift();
    return failures.length > maxRestarts;
  };

  /** Starts the engine again; false when it gave up. */
  async function restartUntilRunning(exit: { code: number | null; signal: NodeJS.Signals | null }): Promise<boolean> {
    logger.error(
      { code: exit.code, signal: exit.signal, dataDir: current.dataDir },
      'the embedded database exited unexpectedly; starting it again on the same data folder',
    );
    markDatabaseUnavailable('the embedded database is restarting');
    let lastError: Error | null = null;
    while (!isStopping) {
      if (isCrashLoop()) {
        opts.onGiveUp(
          new EngineGaveUpError(
            `The embedded database stopped and could not be kept running (${failures.length} exits or failed starts within ${windowMs / 1000} s` +
              (lastError ? `; last error: ${lastError.message.split('\n')[0]}` : '') +
              `). Check the free disk space and the permissions of ${current.dataDir}, that port ${current.port} is free, ` +
              'and the engine output logged above; then start the API again.',
          ),
        );
        return false;
      }
      await backoff(Math.min(250 * 2 ** (failures.length - 1), MAX_BACKOFF_MS));
      if (isStopping) return false;
      try {
        current = await opts.start(current.port);
        logger.info({ port: current.port }, 'the embedded database is running again');
        return true;
      } catch (err) {
        lastError = err as Error;
        logger.error({ err }, 'the embedded database could not be started again');
      }
    }
    return false;
  }

  const supervision = (async () => {
    while (!isStopping) {
      const exit = await current.exited;
      if (isStopping || !(await restartUntilRunning(exit))) return;
    }
  })();

  let stopping: Promise<void> | undefined;
  return {
    uri: current.uri,
    port: current.port,
    dataDir: current.dataDir,
    get pid() {
      return current.pid;
    },
    stop: () =>
      (stopping ??= (async () => {
        isStopping = true;
        abort.abort();
        await current.stop();
        await supervision;
        // A restart that was under way has finished by now: stop what it started.
        await current.stop();
      })()),
  };
}
