import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import mongoose from 'mongoose';
import { isDuplicateKeyError } from '../../db/errors.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { countCustomers } from '../customers/index.js';
import { readAnalyticsState } from './epochs.js';
import { AnalyticsState, cohorts, countMarks, kpiDays, STATE_ID, type RebuildDoc } from './model.js';
import { addCustomerFacts, customerFacts, emptyChunk, flushChunk } from './rebuild-pass.js';

/** A flush (and its checkpoint) after about this many interactions, or customers. */
const CHUNK_INTERACTIONS = 20_000;
const CHUNK_CUSTOMERS = 2_000;

export type RebuildState = 'NEVER' | 'RUNNING' | 'INTERRUPTED' | 'DONE';

export type RebuildStatus = {
  state: RebuildState;
  epoch: number | null;
  cutoff: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
  steps: number;
  customersDone: number;
  customersTotal: number;
  interactionsCounted: number;
  progress: number;
};

export type RebuildOptions = {
  /** Customers per flush of a new rebuild (tests use small chunks to have several steps). */
  chunkCustomers?: number;
  /**
   * Stop as a crash would, for drills and tests: after writing this many flushes' counters,
   * before the last one's checkpoint, keeping the lease until it expires.
   */
  crashAfterSteps?: number;
  onProgress?: (status: RebuildStatus) => void;
};

export function statusOf(rebuild: RebuildDoc | null, lastRebuild: RebuildDoc | null, now = new Date()): RebuildStatus {
  const doc = rebuild ?? lastRebuild;
  const state: RebuildState = rebuild
    ? rebuild.leaseUntil.getTime() > now.getTime()
      ? 'RUNNING'
      : 'INTERRUPTED'
    : lastRebuild
      ? 'DONE'
      : 'NEVER';
  const total = doc?.customersTotal ?? 0;
  return {
    state,
    epoch: doc?.epoch ?? null,
    cutoff: doc?.cutoff ?? null,
    startedAt: doc?.startedAt ?? null,
    finishedAt: doc?.finishedAt ?? null,
    steps: doc?.step ?? 0,
    customersDone: doc?.customersDone ?? 0,
    customersTotal: total,
    interactionsCounted: doc?.interactionsCounted ?? 0,
    progress: state === 'DONE' ? 1 : total > 0 ? Math.min(1, (doc?.customersDone ?? 0) / total) : 0,
  };
}

/** One line of progress, as the scripts print it. */
export function describeRebuild(s: RebuildStatus): string {
  return `analytics rebuild ${s.state.toLowerCase()}: epoch ${s.epoch}, step ${s.steps}, ${s.customersDone} of ${s.customersTotal} customers (${Math.floor(s.progress * 100)}%), ${s.interactionsCounted} interactions`;
}

export async function readRebuildStatus(): Promise<RebuildStatus> {
  const state = await readAnalyticsState();
  return statusOf(state.rebuild, state.lastRebuild);
}

/**
 * Takes the rebuild's lease: resumes the one in progress when its holder stopped (its lease
 * expired), or begins a new epoch when none is in progress. Null when another holder is at it.
 * Leases follow the real time, as the event consumers' do.
 */
async function claimRebuild(
  owner: string,
  leaseMs: number,
  clock: Clock,
  opts: RebuildOptions,
): Promise<RebuildDoc | null> {
  const now = new Date();
  const leaseUntil = new Date(now.getTime() + leaseMs);
  const state = await readAnalyticsState();
  if (state.rebuild) {
    const claimed = await AnalyticsState.findOneAndUpdate(
      { _id: STATE_ID, 'rebuild.epoch': state.rebuild.epoch, 'rebuild.leaseUntil': mongoose.trusted({ $lt: now }) },
      { $set: { 'rebuild.leaseOwner': owner, 'rebuild.leaseUntil': leaseUntil } },
      { returnDocument: 'after' },
    ).lean();
    return claimed?.rebuild ?? null;
  }
  const rebuild: RebuildDoc = {
    epoch: Math.max(state.live.epoch, state.lastRebuild?.epoch ?? 0) + 1,
    cutoff: clock.now(),
    startedAt: clock.now(),
    finishedAt: null,
    chunkCustomers: opts.chunkCustomers ?? CHUNK_CUSTOMERS,
    chunkInteractions: CHUNK_INTERACTIONS,
    step: 0,
    afterCustomerId: null,
    customersDone: 0,
    customersTotal: await countCustomers({}),
    interactionsCounted: 0,
    leaseOwner: owner,
    leaseUntil,
  };
  try {
    // `rebuild: null` matches a missing field too: the first rebuild creates the document.
    const res = await AnalyticsState.updateOne(
      { _id: STATE_ID, rebuild: null },
      { $set: { rebuild }, $setOnInsert: { live: state.live, lastRebuild: null } },
      { upsert: true },
    );
    return res.modifiedCount + res.upsertedCount === 1 ? rebuild : null;
  } catch (err) {
    if (isDuplicateKeyError(err)) return null; // another process began one first
    throw err;
  }
}

/** Ids of the counter documents of epochs older than `live` (newer ones are rebuilds in progress). */
async function deleteEpochsBefore(live: number): Promise<void> {
  const isOlder = (id: string) => {
    const m = /^e(\d+):/.exec(id);
    return m ? Number(m[1]) < live : true;
  };
  for (const collection of [kpiDays, cohorts, countMarks]) {
    let stale: string[] = [];
    const flush = async () => {
      if (stale.length) await collection.deleteMany({ _id: mongoose.trusted({ $in: stale }) });
      stale = [];
    };
    for await (const doc of collection.find({}, { projection: { _id: 1 } })) {
      if (isOlder(String(doc._id))) stale.push(String(doc._id));
      if (stale.length >= 1_000) await flush();
    }
    await flush();
  }
}

/**
 * Runs (or resumes) the rebuild this process holds the lease of, to its end: one pass over the
 * facts after the checkpointed customer, a flush and a checkpoint every chunk, then the swap
 * of the live epoch and the removal of the older epochs' documents. Returns false when the
 * lease was lost (another holder took over) or a drill crash was asked for.
 */
async function runRebuild(
  deps: { owner: string; logger: Logger; isStopping: () => boolean },
  rebuild: RebuildDoc,
  opts: RebuildOptions,
): Promise<boolean> {
  const target = { epoch: rebuild.epoch, cutoff: rebuild.cutoff };
  const mine = { _id: STATE_ID, 'rebuild.epoch': rebuild.epoch, 'rebuild.leaseOwner': deps.owner };
  let progress = { ...rebuild };
  let chunk = emptyChunk();
  const checkpoint = async (isLast: boolean): Promise<boolean> => {
    if (!chunk.customers && !isLast) return true;
    const step = progress.step + 1;
    await flushChunk(chunk, step);
    if (opts.crashAfterSteps !== undefined && step >= opts.crashAfterSteps) return false;
    progress = {
      ...progress,
      step,
      afterCustomerId: chunk.lastCustomerId ?? progress.afterCustomerId,
      customersDone: progress.customersDone + chunk.customers,
      interactionsCounted: progress.interactionsCounted + chunk.interactions,
    };
    const moved = await AnalyticsState.updateOne(
      { ...mine, 'rebuild.step': step - 1 },
      { $set: { rebuild: progress } },
    );
    chunk = emptyChunk();
    if (moved.matchedCount === 0) return false;
    opts.onProgress?.(statusOf(progress, null));
    return true;
  };
  for await (const facts of customerFacts(rebuild.afterCustomerId)) {
    if (deps.isStopping()) return false;
    addCustomerFacts(chunk, target, facts);
    if (chunk.customers >= rebuild.chunkCustomers || chunk.interactions >= rebuild.chunkInteractions)
      if (!(await checkpoint(false))) return false;
  }
  if (!(await checkpoint(true))) return false;
  const finished: RebuildDoc = { ...progress, finishedAt: new Date(), leaseOwner: null, leaseUntil: new Date(0) };
  const swapped = await AnalyticsState.updateOne(mine, {
    $set: { live: target, rebuild: null, lastRebuild: finished },
  });
  if (swapped.matchedCount === 0) return false;
  opts.onProgress?.(statusOf(null, finished));
  await deleteEpochsBefore(rebuild.epoch);
  deps.logger.info({ epoch: rebuild.epoch, customers: finished.customersDone }, 'analytics rebuilt');
  return true;
}

export type AnalyticsRebuilder = ReturnType<typeof createAnalyticsRebuilder>;

/**
 * Recomputes the analytics counters (daily buckets, cohorts) from the stored facts: see
 * epochs.ts for how it stays exact beside the live consumer, rebuild-pass.ts for the pass.
 * `rebuild` runs one to its end and waits (the CLI, the seed); `startRebuild` begins or
 * resumes one in the background and answers at once (the API).
 */
export function createAnalyticsRebuilder(deps: { clock: Clock; logger: Logger; leaseMs: number }) {
  const owner = `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
  let running: Promise<boolean> | null = null;
  let isStopping = false;

  async function runHeld(rebuild: RebuildDoc, opts: RebuildOptions): Promise<boolean> {
    const renew = setInterval(
      () => {
        AnalyticsState.updateOne(
          { _id: STATE_ID, 'rebuild.epoch': rebuild.epoch, 'rebuild.leaseOwner': owner },
          { $set: { 'rebuild.leaseUntil': new Date(Date.now() + deps.leaseMs) } },
        ).catch(() => {});
      },
      Math.max(50, Math.floor(deps.leaseMs / 3)),
    );
    let isDone = false;
    let isCrashDrill = false;
    try {
      isDone = await runRebuild({ owner, logger: deps.logger, isStopping: () => isStopping }, rebuild, opts);
      isCrashDrill = !isDone && opts.crashAfterSteps !== undefined;
      return isDone;
    } finally {
      clearInterval(renew);
      // Hand over at once, unless this is a crash drill (a crashed holder releases nothing).
      if (!isDone && !isCrashDrill)
        await AnalyticsState.updateOne(
          { _id: STATE_ID, 'rebuild.epoch': rebuild.epoch, 'rebuild.leaseOwner': owner },
          { $set: { 'rebuild.leaseOwner': null, 'rebuild.leaseUntil': new Date(0) } },
        ).catch(() => {});
    }
  }

  /** Begins or resumes a rebuild and runs it to its end; false when another holder has it. */
  async function rebuild(opts: RebuildOptions = {}): Promise<boolean> {
    const claimed = await claimRebuild(owner, deps.leaseMs, deps.clock, opts);
    if (!claimed) return false;
    return runHeld(claimed, opts);
  }

  /**
   * A rebuild to its end, for scripts: when another holder has one in progress, waits for it
   * to finish, or for its lease to expire (a crashed holder) and then resumes it.
   */
  async function rebuildToEnd(opts: RebuildOptions & { onWaiting?: (status: RebuildStatus) => void } = {}) {
    const begun = new Date();
    for (;;) {
      if (await rebuild(opts)) return readRebuildStatus();
      const status = await readRebuildStatus();
      if (status.state === 'DONE' && status.finishedAt && status.finishedAt >= begun) return status;
      if (opts.crashAfterSteps !== undefined) return status;
      opts.onWaiting?.(status); // another holder is at it, or crashed and its lease runs out
      await new Promise((r) => setTimeout(r, Math.min(1_000, deps.leaseMs / 3)));
    }
  }

  /** Begins or resumes a rebuild in the background (unless one is running), and says where it is. */
  async function startRebuild(): Promise<{ status: RebuildStatus; isStarted: boolean }> {
    let isStarted = false;
    if (!running) {
      const claimed = await claimRebuild(owner, deps.leaseMs, deps.clock, {});
      if (claimed) {
        isStarted = true;
        running = runHeld(claimed, {})
          .catch((err: unknown) => {
            deps.logger.error({ err }, 'analytics rebuild failed; run it again to resume');
            return false;
          })
          .finally(() => {
            running = null;
          });
      }
    }
    return { status: await readRebuildStatus(), isStarted };
  }

  return {
    rebuild,
    rebuildToEnd,
    startRebuild,
    status: readRebuildStatus,
    /** Stops a background rebuild at its next customer, keeping its checkpoint for a resume. */
    async stop(): Promise<void> {
      isStopping = true;
      await running;
    },
  };
}
