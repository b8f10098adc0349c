import { Umzug } from 'umzug';
import type { Logger } from '../../shared/logger.js';
import { appVersion as currentAppVersion } from '../../shared/runtime.js';
import { acquireMigrationLease, type LeaseTiming } from './lease.js';
import { readMigrationRecords, recordMigrationStarted, recordStorage, type MigrationRecord } from './records.js';

/** One data migration: a change to stored shapes that a version makes once per database. */
export type Migration = {
  /**
   * `<domain>.<what>.<change>`, unique forever: the database records it, so a released name is
   * never renamed, reordered or removed (docs/UPGRADES.md).
   */
  name: string;
  /**
   * Brings the stored data to the new shape. It runs again after a crash in the middle, so it
   * must be idempotent: it finds what is still in the old shape and changes only that.
   */
  up: (logger: Logger) => Promise<void>;
};

/** The database records migrations this code does not know: a newer version upgraded it. */
export class NewerDatabaseError extends Error {
  override name = 'NewerDatabaseError';
}

export type MigrationRunOptions = {
  logger: Logger;
  appVersion?: string;
  timing?: LeaseTiming;
};

/**
 * Throws NewerDatabaseError when the database records a migration, finished or begun, that is
 * not in `migrations`. Reads only: called before anything is written.
 */
export async function refuseNewerDatabase(
  migrations: readonly Migration[],
  appVersion = currentAppVersion,
): Promise<MigrationRecord[]> {
  const known = new Set(migrations.map((m) => m.name));
  const records = await readMigrationRecords();
  const unknown = records.filter((r) => !known.has(r.name));
  if (unknown.length) throw new NewerDatabaseError(newerDatabaseMessage(unknown, appVersion));
  return records;
}

function newerDatabaseMessage(unknown: MigrationRecord[], appVersion: string): string {
  const described = unknown.map((r) => {
    const when = r.ranAt ? `run ${r.ranAt.toISOString()}` : `begun ${r.startedAt?.toISOString() ?? ''}, not finished,`;
    return `"${r.name}" (${when} by version ${r.appVersion ?? 'unknown'})`;
  });
  const newest = unknown.at(-1)!.appVersion;
  return (
    `This database was upgraded by a newer version of Pulse CRM: it records the data migration ` +
    `${described.join(', ')}, which this version (${appVersion}) does not know. Nothing was changed. ` +
    `Run Pulse CRM ${newest ?? 'of that version'} or newer on this database, or restore a backup taken ` +
    `before that upgrade (docs/UPGRADES.md).`
  );
}

/**
 * Runs, in order, the migrations the database has not recorded as finished, and returns their
 * names. Only the holder of the migration lease runs them: a process that starts meanwhile waits
 * for it and then finds them recorded. A migration that throws stops the run (the error names
 * it); it and the ones after it are pending again at the next start.
 */
export async function runMigrations(migrations: readonly Migration[], opts: MigrationRunOptions): Promise<string[]> {
  const appVersion = opts.appVersion ?? currentAppVersion;
  const before = await refuseNewerDatabase(migrations, appVersion);
  if (migrations.every((m) => before.some((r) => r.name === m.name && r.ranAt))) return [];

  const lease = await acquireMigrationLease({ appVersion, logger: opts.logger, timing: opts.timing });
  const by = { owner: lease.owner, appVersion };
  try {
    // While this process waited, another may have run them, or a newer version may have.
    for (const r of await refuseNewerDatabase(migrations, appVersion))
      if (!r.ranAt)
        opts.logger.warn({ migration: r.name, startedAt: r.startedAt }, 'data migration interrupted; it runs again');
    const umzug = new Umzug<object>({
      migrations: migrations.map((m) => ({ name: m.name, up: () => m.up(opts.logger.child({ migration: m.name })) })),
      storage: recordStorage(by),
      context: {},
      logger: undefined,
    });
    const startedAt = new Map<string, number>();
    umzug.on('migrating', async ({ name }) => {
      await lease.confirm();
      await recordMigrationStarted(name, by);
      startedAt.set(name, Date.now());
      opts.logger.info({ migration: name }, 'data migration started');
    });
    umzug.on('migrated', ({ name }) => {
      const durationMs = Date.now() - (startedAt.get(name) ?? Date.now());
      opts.logger.info({ migration: name, durationMs, appVersion }, 'data migration done');
    });
    return (await umzug.up()).map((m) => m.name);
  } finally {
    // A release that fails (the database went away) must not hide why the run ended: the
    // lease then expires on its own.
    await lease.release().catch((err: unknown) => opts.logger.warn({ err }, 'migration lease not released'));
  }
}
