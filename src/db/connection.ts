import mongoose from 'mongoose';

// No client string may ever become a query operator: `{ email: { $ne: null } }` sent as a
// value is wrapped in $eq instead of being obeyed. Filters on unknown paths are dropped.
mongoose.set('sanitizeFilter', true);
mongoose.set('strictQuery', true);

export type DbConnectOptions = {
  uri: string;
  dbName: string;
  maxPoolSize: number;
  connectTimeoutMs?: number;
  /** Emit the driver's command events (tests count database round trips with them). */
  monitorCommands?: boolean;
};

/** Set while this process closes its connection on purpose: nothing may reopen it then. */
let isClosing = false;

export function isDatabaseClosing(): boolean {
  return isClosing;
}

export async function connectDatabase(opts: DbConnectOptions): Promise<typeof mongoose> {
  isClosing = false;
  return mongoose.connect(opts.uri, {
    dbName: opts.dbName,
    maxPoolSize: opts.maxPoolSize,
    serverSelectionTimeoutMS: opts.connectTimeoutMs ?? 10_000,
    // A lost database is noticed within two seconds even when no call is under way.
    heartbeatFrequencyMS: 2_000,
    // Also bounds a monitoring check that reached a server on its way down (it accepts the
    // connection and never answers): the restarted one is found within seconds, not 30.
    connectTimeoutMS: 5_000,
    // Indexes are created explicitly at start (ensureIndexes), not lazily per model.
    autoIndex: false,
    monitorCommands: opts.monitorCommands ?? false,
  });
}

/**
 * A cheap round trip that proves the database answers. With `evenIfDisconnected`, it is sent
 * while the connection counts as lost too: its server selection makes the driver check the
 * server at once instead of at its next heartbeat.
 */
export async function pingDatabase(timeoutMs = 2_000, opts: { evenIfDisconnected?: boolean } = {}): Promise<number> {
  const db = mongoose.connection.db;
  if (!db || isClosing || (mongoose.connection.readyState !== 1 && !opts.evenIfDisconnected))
    throw new Error('database not connected');
  const started = performance.now();
  await Promise.race([
    db.command({ ping: 1 }),
    new Promise((_, reject) => setTimeout(() => reject(new Error('database ping timed out')), timeoutMs).unref()),
  ]);
  return performance.now() - started;
}

export async function disconnectDatabase(): Promise<void> {
  isClosing = true;
  await mongoose.disconnect();
}
