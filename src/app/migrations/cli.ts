/**
 * `npm run db:migrations`: what the database records of the data migrations — each one this
 * version knows, run (when, by which version), interrupted or pending, and any it does not know
 * (a newer version's). Reads only. The database is MONGODB_URI's, or the embedded one of
 * CRM_DATA_DIR: through the engine serving it (a running API's), or one started for the moment.
 */
import { loadConfig } from '../../config.js';
import { connectDatabase, disconnectDatabase } from '../../db/connection.js';
import { startEmbeddedDbIfNeeded } from '../../db/embedded.js';
import { findRunningEngine } from '../../db/ferretdb/engine.js';
import { readMigrationLease } from '../../db/migrations/lease.js';
import { readMigrationRecords, type MigrationRecord } from '../../db/migrations/records.js';
import { createLogger } from '../../shared/logger.js';
import { appVersion } from '../../shared/runtime.js';
import { migrationsFor } from './index.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const running = config.mongodbUri ? null : await findRunningEngine(config.dataDir);
  const database = running
    ? { uri: running, engine: undefined }
    : await startEmbeddedDbIfNeeded(config, createLogger('warn'));
  try {
    await connectDatabase({ uri: database.uri, dbName: config.mongodbDb, maxPoolSize: 2 });
    const records = new Map((await readMigrationRecords()).map((r) => [r.name, r]));
    const lease = await readMigrationLease();
    const isRunning = lease !== null && lease.until > new Date();
    const where = config.mongodbUri ? database.uri.replace(/\/\/[^@/]*@/, '//') : config.dataDir;
    console.log(`Data migrations of database "${config.mongodbDb}" (${where}); this is version ${appVersion}.`);
    for (const { name } of migrationsFor(config)) {
      console.log(describe(name, records.get(name), isRunning));
      records.delete(name);
    }
    for (const record of records.values())
      console.log(
        `${describe(record.name, record, isRunning)}  ← unknown to ${appVersion}: a newer version upgraded this database`,
      );
    if (isRunning)
      console.log(
        `Migrations are being run now by ${lease.owner} (version ${lease.appVersion}, since ${iso(lease.takenAt)}).`,
      );
  } finally {
    await disconnectDatabase();
    await database.engine?.stop();
  }
}

function describe(name: string, record: MigrationRecord | undefined, isRunning: boolean): string {
  if (!record) return `  pending      ${name}`;
  const by = `by version ${record.appVersion ?? '(not recorded)'}`;
  if (!record.ranAt && isRunning) return `  running      ${name}  since ${iso(record.startedAt)} ${by}`;
  if (!record.ranAt)
    return `  interrupted  ${name}  begun ${iso(record.startedAt)} ${by}; runs again at the next start`;
  return `  done         ${name}  ${iso(record.ranAt)} ${by}`;
}

const iso = (d: Date | null) => d?.toISOString() ?? '(unknown time)';

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
