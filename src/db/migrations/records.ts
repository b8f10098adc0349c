import mongoose from 'mongoose';
import type { UmzugStorage } from 'umzug';

/**
 * One document per migration, keyed by its name: written when it starts, and given `ranAt` when
 * it ran to the end. Versions before migrations were recorded wrote a bare marker
 * `{ _id: <name>, at }` for their one upgrade: it counts as finished (its name is the
 * migration's), with no version.
 */
export type MigrationRecordDoc = {
  _id: string;
  startedAt?: Date;
  ranAt?: Date;
  /** The version of Pulse CRM that ran it (package.json). */
  appVersion?: string;
  /** `host:pid:random` of the process that ran it. */
  owner?: string;
  /** The marker of an earlier version: when its upgrade ran. */
  at?: Date;
};

/** A record as operators and error messages read it. */
export type MigrationRecord = {
  name: string;
  startedAt: Date | null;
  /** Null while it runs, or when the process running it stopped before its end. */
  ranAt: Date | null;
  /** Null for the marker written before versions were recorded. */
  appVersion: string | null;
};

export const MIGRATIONS_COLLECTION = 'migrations';

export function migrationRecords() {
  return mongoose.connection.db!.collection<MigrationRecordDoc>(MIGRATIONS_COLLECTION);
}

/** Every recorded migration, finished or not, in the order they started. */
export async function readMigrationRecords(): Promise<MigrationRecord[]> {
  const docs = await migrationRecords().find({}).toArray();
  return docs
    .map((d) => ({
      name: d._id,
      startedAt: d.startedAt ?? d.at ?? null,
      ranAt: d.ranAt ?? d.at ?? null,
      appVersion: d.appVersion ?? null,
    }))
    .sort((a, b) => (a.startedAt?.getTime() ?? 0) - (b.startedAt?.getTime() ?? 0));
}

/** Written before a migration's first change: a crash leaves it without `ranAt`, for all to see. */
export async function recordMigrationStarted(name: string, by: { owner: string; appVersion: string }): Promise<void> {
  await migrationRecords().updateOne({ _id: name }, { $set: { startedAt: new Date(), ...by } }, { upsert: true });
}

/**
 * umzug's storage: a migration counts as run only once its `up` returned, so one that was
 * interrupted is pending again at the next start. Updates, not inserts: the record exists since
 * the migration started.
 */
export function recordStorage(by: { owner: string; appVersion: string }): UmzugStorage {
  return {
    async executed() {
      return (await readMigrationRecords()).filter((r) => r.ranAt).map((r) => r.name);
    },
    async logMigration({ name }) {
      await migrationRecords().updateOne({ _id: name }, { $set: { ranAt: new Date(), ...by } }, { upsert: true });
    },
    async unlogMigration({ name }) {
      await migrationRecords().deleteOne({ _id: name });
    },
  };
}
