import mongoose from 'mongoose';
import type { Logger } from '../shared/logger.js';
import { isDatabaseClosing, pingDatabase } from './connection.js';

/** While the database is away, how often a ping asks whether it is back. */
const PROBE_INTERVAL_MS = 500;

/**
 * Whether the database answers, as this process last saw it. The driver reconnects by itself
 * (to a restarted engine, a restarted server, a new primary); this is what the API tells
 * clients and operators meanwhile, and what its background work waits on instead of failing
 * once per poll.
 */
export type DatabaseStatus = {
  isAvailable: boolean;
  /** Since when the current state holds. */
  since: Date;
  /** Why it is unavailable ("connection lost", "embedded engine restarting"), or null. */
  reason: string | null;
};

const waiters = new Set<() => void>();
const returnListeners = new Set<() => void>();
let status: DatabaseStatus = { isAvailable: true, since: new Date(), reason: null };
let log: Logger | undefined;

export function databaseStatus(): DatabaseStatus {
  return status;
}

export function isDatabaseAvailable(): boolean {
  return status.isAvailable;
}

/** Marks the database unavailable; logged once per change of state, not per failed call. */
export function markDatabaseUnavailable(reason: string): void {
  // Closing the connection on purpose (shutdown, a test's end) is not an outage.
  if (isDatabaseClosing()) return;
  if (!status.isAvailable) {
    if (status.reason !== reason) status = { ...status, reason };
    return;
  }
  status = { isAvailable: false, since: new Date(), reason };
  log?.warn({ reason }, 'database unavailable: operations answer DATABASE_UNAVAILABLE until it returns');
  void probeUntilAvailable();
}

/**
 * Pings until the database answers: the driver's own events say when a connection was lost
 * and regained, but a database that stops answering without closing its sockets is only seen
 * by asking it.
 */
async function probeUntilAvailable(): Promise<void> {
  while (!status.isAvailable && !isDatabaseClosing()) {
    await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS).unref());
    if (status.isAvailable || isDatabaseClosing()) return;
    try {
      await pingDatabase(2_000, { evenIfDisconnected: true });
      // Back once the driver says so too: until then models would wait in mongoose's buffer.
      if (mongoose.connection.readyState === 1) markDatabaseAvailable();
    } catch {
      // still away
    }
  }
}

/** A ping: on failure the database is marked unavailable, on success available. */
export async function checkDatabase(): Promise<number> {
  try {
    const pingMs = await pingDatabase();
    markDatabaseAvailable();
    return pingMs;
  } catch (err) {
    markDatabaseUnavailable('not answering');
    throw err;
  }
}

export function markDatabaseAvailable(): void {
  if (status.isAvailable) return;
  const downMs = Date.now() - status.since.getTime();
  status = { isAvailable: true, since: new Date(), reason: null };
  log?.info({ downMs }, 'database available again');
  for (const wake of [...waiters]) wake();
  for (const listener of [...returnListeners]) listener();
}

/** Calls `listener` each time the database comes back; returns the way to stop listening. */
export function onDatabaseReturn(listener: () => void): () => void {
  returnListeners.add(listener);
  return () => returnListeners.delete(listener);
}

/** Resolves when the database is available (at once when it is), or when `signal` aborts. */
export function whenDatabaseAvailable(signal?: AbortSignal): Promise<void> {
  if (status.isAvailable || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      waiters.delete(done);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    waiters.add(done);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Follows the driver's view of the connection: lost, and back again. */
export function watchDatabaseConnection(logger: Logger): void {
  log = logger;
  const connection = mongoose.connection;
  connection.on('disconnected', () => markDatabaseUnavailable('connection lost'));
  connection.on('reconnected', markDatabaseAvailable);
  connection.on('connected', markDatabaseAvailable);
}

const UNAVAILABLE_ERRORS = new Set([
  'MongoServerSelectionError',
  'MongooseServerSelectionError',
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoNotConnectedError',
  'MongoTopologyClosedError',
  'MongoPoolClearedError',
  'MongoServerClosedError',
]);

/**
 * True when a call failed because the database could not be reached (not because of what it
 * asked): the caller may retry it once the database is back.
 */
export function isDatabaseUnavailableError(err: unknown): boolean {
  for (let e = err as { name?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; depth++) {
    if (typeof e.name === 'string' && UNAVAILABLE_ERRORS.has(e.name)) return true;
    e = e.cause as typeof e;
  }
  return false;
}

/**
 * Logs a background failure, unless it is the database being away: that is logged once, as a
 * change of state, not once per poll of every worker.
 */
export function logBackgroundFailure(
  logger: Logger,
  err: unknown,
  fields: Record<string, unknown>,
  message: string,
): void {
  if (isDatabaseUnavailableError(err)) return;
  logger.error({ err, ...fields }, message);
}
