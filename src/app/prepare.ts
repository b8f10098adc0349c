import type { Config } from '../config.js';
import { runMigrations } from '../db/migrations/runner.js';
import type { Logger } from '../shared/logger.js';
import type { Domain } from './domain.js';
import { ensureIndexes } from './indexes.js';
import { migrationsFor } from './migrations/index.js';

/**
 * Everything a process does before it takes traffic: the data migrations, indexes, the first
 * admin, and the repairs that make stored counts exact after a crashed writer.
 */
export async function prepareDatabase(domain: Domain, config: Config, logger: Logger): Promise<void> {
  // First, before anything is written: a database a newer version upgraded is refused
  // (NewerDatabaseError). Before the indexes: a migration may make old data fit a new unique one.
  await runMigrations(migrationsFor(config), { logger });
  await ensureIndexes();
  await domain.users.bootstrapAdminIfNeeded({
    email: config.adminEmail,
    password: config.adminPassword,
    isProduction: config.isProduction,
  });
  await domain.interactions.repairPendingApplications();
  await domain.campaigns.repairStats();
  await domain.segments.recountSegments();
  if (config.automation.installDefaultJourneys) await domain.automation.installDefaultJourneys();
}
