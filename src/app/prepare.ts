import type { Config } from '../config.js';
import { upgradeSearchKeys } from '../modules/customers/index.js';
import type { Logger } from '../shared/logger.js';
import type { Domain } from './domain.js';
import { ensureIndexes } from './indexes.js';

/**
 * Everything a process does before it takes traffic: indexes, stored-shape upgrades, the first
 * admin, and the repairs that make stored counts exact after a crashed writer.
 */
export async function prepareDatabase(domain: Domain, config: Config, logger: Logger): Promise<void> {
  await ensureIndexes();
  await upgradeSearchKeys(config.defaultRegion, logger);
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
