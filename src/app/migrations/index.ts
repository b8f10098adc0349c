import type { Config } from '../../config.js';
import type { Migration } from '../../db/migrations/runner.js';
import { upgradeSearchKeys } from '../../modules/customers/index.js';

/**
 * Every data migration, in the order they run (docs/UPGRADES.md). Append only: a database
 * records the names it ran, and a version that finds a name it does not know refuses to start,
 * so a released migration is never renamed, reordered or removed. A migration changes a
 * domain's collection only through that domain's face.
 */
export function migrationsFor(config: Config): Migration[] {
  return [
    {
      // The name of the marker this upgrade wrote before migrations were recorded: a data
      // folder that has it counts it as run.
      name: 'customers.searchKeys.contact-marked',
      up: async (logger) => void (await upgradeSearchKeys(config.defaultRegion, logger)),
    },
  ];
}
