/**
 * `npm run analytics:rebuild`: recomputes the dashboard's daily buckets and the cohort counters
 * from the stored customers, segment history and interactions — the same rebuild as the
 * `rebuildAnalytics` mutation, on the same database the API uses (the embedded engine, even
 * while the API is running on it, or MONGODB_URI). Prints a progress line per checkpoint.
 * Safe to run while the API serves traffic, to run twice, and to run again after a crash (it
 * resumes from its checkpoint once the crashed holder's lease has expired).
 */
import { loadConfig } from '../src/config.js';
import { connectDatabase, disconnectDatabase } from '../src/db/connection.js';
import { startEmbeddedDbIfNeeded } from '../src/db/embedded.js';
import { findRunningEngine } from '../src/db/ferretdb/engine.js';
import { ensureIndexes } from '../src/app/indexes.js';
import { createAnalyticsRebuilder, describeRebuild } from '../src/modules/analytics/rebuild.js';
import { systemClock } from '../src/shared/clock.js';
import { createLogger } from '../src/shared/logger.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger('warn');
  const running = config.mongodbUri ? null : await findRunningEngine(config.dataDir);
  const database = running
    ? { uri: running, kind: 'embedded' as const, engine: undefined }
    : await startEmbeddedDbIfNeeded(config, logger);
  await connectDatabase({ uri: database.uri, dbName: config.mongodbDb, maxPoolSize: config.mongodbMaxPoolSize });
  try {
    await ensureIndexes();
    const rebuilder = createAnalyticsRebuilder({ clock: systemClock, logger, leaseMs: config.automation.leaseMs });
    let waiting = '';
    const status = await rebuilder.rebuildToEnd({
      onProgress: (s) => console.log(describeRebuild(s)),
      onWaiting: (s) => {
        const line = `${describeRebuild(s)} (held by another process: waiting)`;
        if (line !== waiting) console.log(line);
        waiting = line;
      },
    });
    if (status.state !== 'DONE') process.exitCode = 1;
  } finally {
    await disconnectDatabase();
    await database.engine?.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
