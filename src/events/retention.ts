import mongoose, { Schema } from 'mongoose';
import type { Logger } from '../shared/logger.js';
import { slowestConsumer } from './consumer.js';
import type { EventLog } from './log.js';
import { Event, eventId } from './model.js';

/** Events removed per delete: one `_id: {$in: […]}` the engine answers from its `_id` index (~30 ms). */
export const PRUNE_BATCH = 500;

/**
 * How far retention has removed the log: every seq below `removedBelow` is gone. The pruner
 * raises it before it deletes a batch, so a reader that sees a seq missing below it knows the
 * event was pruned (not a hole left by a crashed writer), and a cursor before it is refused,
 * never answered with a silent gap.
 */
type EventLogStateDoc = { _id: string; removedBelow: number };

const STATE_ID = 'events';

const EventLogState = mongoose.model<EventLogStateDoc>(
  'EventLogState',
  new Schema<EventLogStateDoc>(
    { _id: String, removedBelow: { type: Number, required: true } },
    { versionKey: false, collection: 'event_log_state' },
  ),
);

/** The first seq retention has kept (1 while nothing was ever pruned). */
export async function removedBelow(): Promise<number> {
  const state = await EventLogState.collection.findOne({ _id: STATE_ID as never });
  return (state as EventLogStateDoc | null)?.removedBelow ?? 1;
}

/**
 * A replay from after `afterSeq` would miss events retention removed. `oldestSeq` is the first
 * event a replay can still start with: replaying from after `oldestSeq - 1` loses nothing kept.
 */
export class CursorExpiredError extends Error {
  override name = 'CursorExpiredError';
  constructor(
    readonly afterSeq: number,
    readonly oldestSeq: number,
  ) {
    super(`events after ${afterSeq} were removed by retention; the oldest kept is ${oldestSeq}`);
  }
}

/** The time of the event at `seq`, or null when there is none (a hole, or pruned meanwhile). */
async function appendedAt(seq: number): Promise<Date | null> {
  const doc = await Event.collection.findOne({ _id: eventId(seq) as never }, { projection: { at: 1 } });
  return (doc as { at: Date } | null)?.at ?? null;
}

/**
 * The first seq in [from, to) appended at or after `cutoff`, or `to`: a binary search by `_id`
 * lookups (about 20 for a million events), since the engine answers nothing else without a
 * scan. Seqs are allocated in time order; a missing entry counts as young, so the search errs
 * on keeping.
 */
async function firstAppendedSince(cutoff: Date, from: number, to: number): Promise<number> {
  let old = from - 1;
  let young = to;
  while (young - old > 1) {
    const mid = Math.floor((old + young) / 2);
    const at = await appendedAt(mid);
    if (at && at.getTime() < cutoff.getTime()) old = mid;
    else young = mid;
  }
  return young;
}

/**
 * The first kept event, or null when the log has none: usually the event at `removedBelow`
 * (one lookup); holes (a writer died) and a concurrent prune are stepped over a batch at a time.
 */
export async function oldestKeptEvent(newest: number): Promise<{ seq: number; at: Date } | null> {
  const from = await removedBelow();
  for (let seq = from; seq <= newest;) {
    const size = Math.min(seq === from ? 1 : PRUNE_BATCH, newest - seq + 1);
    const ids = Array.from({ length: size }, (_, i) => eventId(seq + i));
    const found = await Event.collection
      .find({ _id: { $in: ids } as never })
      .project<{ seq: number; at: Date }>({ _id: 0, seq: 1, at: 1 })
      .toArray();
    const first = found.sort((a, b) => a.seq - b.seq)[0];
    if (first) return first;
    seq += size;
  }
  return null;
}

export type EventPruneOutcome = {
  removed: number;
  /** The first seq kept after this run. */
  keptFrom: number;
  /** The durable consumer that kept events older than the window, if one did. */
  heldBackBy: { name: string; position: number } | null;
  ms: number;
};

/**
 * Removes the events older than `retentionMs` that every durable consumer has handled, oldest
 * first in batches of PRUNE_BATCH, by `_id` equality. Never removes the event at this process's
 * tailer position (the newest it has read: the log's end stays in the log), nor anything
 * above it, so an append in flight is never behind a pruned range. A consumer that never
 * started holds nothing back: on its first start it begins at the end of the log.
 */
export async function pruneEvents(deps: { events: EventLog; retentionMs: number }): Promise<EventPruneOutcome> {
  const started = performance.now();
  const from = await removedBelow();
  const cutoff = new Date(deps.events.clock.now().getTime() - deps.retentionMs);
  const slowest = await slowestConsumer();
  let limit = deps.events.position;
  if (slowest) limit = Math.min(limit, slowest.position + 1);
  const expiredUpTo = await firstAppendedSince(cutoff, from, deps.events.position);
  const keepFrom = Math.max(from, Math.min(expiredUpTo, limit));
  let removed = 0;
  // The batch below `from` again: a run that died between raising the bound and deleting left it.
  for (let first = Math.max(1, from - PRUNE_BATCH); first < keepFrom; first += PRUNE_BATCH) {
    const end = Math.min(first + PRUNE_BATCH, keepFrom);
    // First the bound, then the delete: a reader never takes a pruned seq for a hole.
    await EventLogState.collection.updateOne(
      { _id: STATE_ID as never },
      { $max: { removedBelow: end } },
      { upsert: true },
    );
    const ids = Array.from({ length: end - first }, (_, i) => eventId(first + i));
    removed += (await Event.collection.deleteMany({ _id: { $in: ids } as never })).deletedCount;
  }
  const isHeldBack = slowest !== null && slowest.position + 1 < Math.min(expiredUpTo, deps.events.position);
  return {
    removed,
    keptFrom: keepFrom,
    heldBackBy: isHeldBack ? slowest : null,
    ms: performance.now() - started,
  };
}

/** Logs what a run did; a consumer holding events back is worth a warning (it may be gone for good). */
export function logEventPrune(logger: Logger, outcome: EventPruneOutcome): void {
  const { heldBackBy, ...facts } = outcome;
  if (heldBackBy)
    logger.warn(
      { ...facts, consumer: heldBackBy.name, consumerPosition: heldBackBy.position },
      'event retention held back: a durable consumer has not handled events older than the window',
    );
  else if (outcome.removed) logger.info(facts, 'event retention removed old events');
}
