import { randomUUID } from 'node:crypto';
import os from 'node:os';
import mongoose from 'mongoose';
import type { Logger } from '../../shared/logger.js';
import { isDuplicateKeyError } from '../errors.js';

/**
 * The one document that says which process runs the migrations now. Taken by inserting it
 * (a unique `_id`: one insert wins) or by taking it over once its holder stopped renewing it (a
 * compare-and-set on `until`): the embedded engine has no transactions, and neither needs one.
 */
export type MigrationLeaseDoc = {
  _id: typeof LEASE_ID;
  /** `host:pid:random` of the process holding it. */
  owner: string;
  appVersion: string;
  takenAt: Date;
  /** Renewed every third of the lease while the holder lives; past it, anyone may take over. */
  until: Date;
};

export const MIGRATION_LEASE_COLLECTION = 'migration_lease';
const LEASE_ID = 'migrations';

export type LeaseTiming = {
  /** How long a holder that stopped renewing keeps others waiting (a crashed process). */
  leaseMs: number;
  /** How often a waiting process looks again. */
  pollMs: number;
};

export const DEFAULT_LEASE_TIMING: LeaseTiming = { leaseMs: 30_000, pollMs: 250 };

/** How often a waiting process says, again, whom it waits for. */
const WAITING_NOTICE_MS = 30_000;

/** Another process took the lease (this one stopped renewing it for longer than the lease). */
export class MigrationLeaseLost extends Error {
  override name = 'MigrationLeaseLost';
}

export type HeldMigrationLease = {
  owner: string;
  /** Renews the lease now; throws MigrationLeaseLost when another process holds it. */
  confirm(): Promise<void>;
  release(): Promise<void>;
};

export function migrationLeases() {
  return mongoose.connection.db!.collection<MigrationLeaseDoc>(MIGRATION_LEASE_COLLECTION);
}

/** The lease as stored now, or null when no process holds it. */
export async function readMigrationLease(): Promise<MigrationLeaseDoc | null> {
  return migrationLeases().findOne({ _id: LEASE_ID });
}

/**
 * Waits until this process holds the migration lease: at once when nobody holds it, when its
 * holder releases it, or when the holder stopped renewing it for `leaseMs` (it crashed).
 */
export async function acquireMigrationLease(opts: {
  appVersion: string;
  logger: Logger;
  timing?: LeaseTiming;
}): Promise<HeldMigrationLease> {
  const timing = opts.timing ?? DEFAULT_LEASE_TIMING;
  const owner = `${os.hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  let noticedAt = 0;
  for (;;) {
    const now = new Date();
    const lease = { owner, appVersion: opts.appVersion, takenAt: now, until: new Date(now.getTime() + timing.leaseMs) };
    try {
      await migrationLeases().insertOne({ _id: LEASE_ID, ...lease });
      return holdLease(owner, timing, opts.logger);
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
    const expired = await migrationLeases().findOneAndUpdate(
      { _id: LEASE_ID, until: { $lt: now } },
      { $set: lease },
      { returnDocument: 'before' },
    );
    if (expired) {
      opts.logger.warn(
        { previousOwner: expired.owner },
        'took over the migration lease of a process that stopped renewing it',
      );
      return holdLease(owner, timing, opts.logger);
    }
    if (Date.now() - noticedAt >= WAITING_NOTICE_MS) {
      const holder = await readMigrationLease();
      opts.logger.info(
        { holder: holder?.owner, holderVersion: holder?.appVersion },
        'waiting for the data migrations another process is running',
      );
      noticedAt = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, timing.pollMs));
  }
}

function holdLease(owner: string, timing: LeaseTiming, logger: Logger): HeldMigrationLease {
  let isLost = false;
  const renew = async () => {
    const until = new Date(Date.now() + timing.leaseMs);
    const result = await migrationLeases().updateOne({ _id: LEASE_ID, owner }, { $set: { until } });
    if (result.matchedCount === 0) isLost = true;
  };
  const heartbeat = setInterval(
    () => void renew().catch((err: unknown) => logger.warn({ err }, 'migration lease renewal failed')),
    Math.max(50, Math.floor(timing.leaseMs / 3)),
  );
  heartbeat.unref();
  return {
    owner,
    async confirm() {
      if (!isLost) await renew();
      if (isLost) throw new MigrationLeaseLost('another process took the migration lease; stopping here');
    },
    async release() {
      clearInterval(heartbeat);
      await migrationLeases().deleteOne({ _id: LEASE_ID, owner });
    },
  };
}
