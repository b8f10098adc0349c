/**
 * `npm start`: the API with the embedded database unless MONGODB_URI is given.
 * Prints one ready line with the URL; SIGTERM/SIGINT shut down gracefully and exit 0.
 */
import { ConfigError, loadConfig } from './config.js';
import { connectDatabase, disconnectDatabase } from './db/connection.js';
import { startEmbeddedDbIfNeeded } from './db/embedded.js';
import { EngineBuildError } from './db/ferretdb/build.js';
import { EngineStartError } from './db/ferretdb/engine.js';
import type { EngineGaveUpError } from './db/ferretdb/supervisor.js';
import { checkDatabase, isDatabaseAvailable, watchDatabaseConnection } from './db/health.js';
import { NewerDatabaseError } from './db/migrations/runner.js';
import { startServer } from './app/server.js';
import { systemClock } from './shared/clock.js';
import { createLogger } from './shared/logger.js';

/** During an outage, how long a shutdown waits for work that waits on the database. */
const OUTAGE_STOP_GRACE_MS = 2_000;

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger(config.logLevel);

  // Set once the server runs: what to do when the embedded engine cannot be kept running.
  const onEngineGaveUp: { stop?: (err: EngineGaveUpError) => void } = {};
  const database = await startEmbeddedDbIfNeeded(config, logger, (err) => onEngineGaveUp.stop?.(err));
  watchDatabaseConnection(logger);
  try {
    await connectDatabase({
      uri: database.uri,
      dbName: config.mongodbDb,
      maxPoolSize: config.mongodbMaxPoolSize,
      connectTimeoutMs: config.mongodbConnectTimeoutMs,
    });
  } catch (err) {
    await database.engine?.stop();
    throw new Error(
      `Could not connect to the database at ${database.uri}: ${(err as Error).message}\n` +
        (database.kind === 'external'
          ? 'Check that MONGODB_URI points at a running MongoDB, or unset it to use the embedded database.'
          : 'The embedded engine started but did not answer; delete the data folder lock (engine.json) if no engine runs.'),
    );
  }
  const server = await startServer({ config, logger, clock: systemClock, databaseKind: database.kind });

  let isShuttingDown = false;
  const shutdown = async (reason: NodeJS.Signals | EngineGaveUpError) => {
    if (isShuttingDown) return;
    isShuttingDown = true;
    const exitCode = typeof reason === 'string' ? 0 : 1;
    if (typeof reason === 'string') logger.info({ signal: reason }, 'shutting down');
    else {
      logger.fatal({ err: reason }, 'the embedded database cannot be kept running; shutting down');
      process.stderr.write(`Pulse CRM stopped: ${reason.message}\n`);
    }
    const watchdog = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'shutdown timed out; exiting');
      process.exit(1);
    }, config.shutdownTimeoutMs);
    watchdog.unref();
    const isOutage =
      !isDatabaseAvailable() ||
      !(await checkDatabase().then(
        () => true,
        () => false,
      ));
    if (isOutage) {
      // Nothing can be written now, so nothing is lost by not waiting for the work that waits
      // on the database (none of it was acknowledged): sockets and requests end, then we go.
      const isStopped = await Promise.race([
        server.stop().then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), OUTAGE_STOP_GRACE_MS).unref()),
      ]);
      logger.info({ isStopped }, 'server stopped while the database was unavailable');
      void disconnectDatabase().catch(() => undefined);
    } else {
      await server.stop();
      logger.info('server stopped');
      await disconnectDatabase();
      logger.info('database disconnected');
    }
    await database.engine?.stop();
    logger.info('stopped');
    process.exit(exitCode);
  };
  onEngineGaveUp.stop = (err) => void shutdown(err);
  process.on('SIGTERM', (s) => void shutdown(s));
  process.on('SIGINT', (s) => void shutdown(s));
  // Only now: whoever reads this line may signal us at once, and a signal that came before the
  // handlers would kill the process without a graceful stop.
  logger.info({ url: server.url, database: database.kind }, 'ready');
  process.stdout.write(`Pulse CRM API ready at ${server.url}\n`);
}

main().catch((err: unknown) => {
  const isExpected =
    err instanceof ConfigError ||
    err instanceof EngineBuildError ||
    err instanceof EngineStartError ||
    err instanceof NewerDatabaseError;
  process.stderr.write(
    `Pulse CRM could not start: ${isExpected ? (err as Error).message : ((err as Error)?.stack ?? String(err))}\n`,
  );
  process.exit(1);
});
