import mongoose from 'mongoose';
import { allInOneBatch } from '../../db/collections.js';
import { isDuplicateKeyError } from '../../db/errors.js';
import type { EventPayloads, EventType } from '../../events/map.js';
import type { EventDoc } from '../../events/model.js';
import type { InteractionRecordedPayload } from '../interactions/events.js';
import { epochId, readAnalyticsState } from './epochs.js';
import { cohorts, CountMark, countMarks, kpiDays, type CounterDoc, type Counters, type EpochRef } from './model.js';

/** A customer as stored, as the events about them carry it. */
export type StoredCustomer = InteractionRecordedPayload['customer'];

/** An event as counting reads it (its type and payload), still narrowed by its type. */
export type CountableEvent = { [K in EventType]: { type: K; payload: EventPayloads[K] } }[EventType];

export function dayKey(at: Date): string {
  return at.toISOString().slice(0, 10);
}

export const monthKey = (at: Date) => at.toISOString().slice(0, 7);

/** What one event adds to which day's counters (dotted paths), or null for events not counted. */
export function kpiIncrements(event: CountableEvent): { day: string; inc: Record<string, number> } | null {
  const inc: Record<string, number> = {};
  let day: string;
  const add = (slices: string[], field: keyof Counters, by: number) => {
    for (const slice of slices) inc[`${slice}.${field}`] = (inc[`${slice}.${field}`] ?? 0) + by;
  };
  if (event.type === 'INTERACTION_RECORDED') {
    const { interaction, customer } = event.payload;
    // The day it occurred, not the day it was recorded: imported history lands on its own day.
    day = dayKey(interaction.occurredAt);
    const slices = ['all', `byChannel.${interaction.channel}`, `bySegment.${customer.segment}`];
    add(slices, 'interactions', 1);
    if (interaction.type === 'PURCHASE') {
      add(slices, 'purchases', 1);
      add(slices, 'revenueMinor', interaction.amountMinor ?? 0);
    }
    if (interaction.type === 'COMPLAINT') add(slices, 'complaints', 1);
  } else if (event.type === 'SEGMENT_CHANGED') {
    const change = event.payload;
    day = dayKey(change.changedAt);
    if (change.reason === 'CREATED') add(['all', `bySegment.${change.to}`], 'newCustomers', 1);
    // `>` separates the two: segment names contain `_` (AT_RISK).
    else inc[`flows.${change.from}>${change.to}`] = 1;
  } else return null;
  return { day, inc };
}

/** The `seq` of the marks a rebuild writes: event seqs start at 1, so never an event's. */
export const REBUILD_MARK_SEQ = 0;

/**
 * The count marks a burst of events will ask about, read with one query: each `_id` read maps
 * to the `seq` of its stored mark, or null when none was stored when it was read. Only the
 * consumer writes the marks it asks about afterwards (a rebuild writes only those of customers
 * it counts itself, which the consumer never asks about), and it records here each one it
 * writes, so a mark known absent stays absent until this consumer writes it. A mark known
 * absent is still inserted, never assumed free, when an event claims it.
 */
type KnownMarks = Map<string, number | null>;

async function readMarks(ids: string[]): Promise<KnownMarks> {
  const known: KnownMarks = new Map(ids.map((id) => [id, null]));
  if (ids.length)
    for (const mark of await CountMark.find({ _id: mongoose.trusted({ $in: ids }) })
      .batchSize(allInOneBatch(ids.length))
      .lean())
      known.set(mark._id, mark.seq);
  return known;
}

/** The `seq` of the stored mark `fact`, or null. */
async function storedMarkSeq(fact: string): Promise<number | null> {
  return (await CountMark.findById(fact).lean())?.seq ?? null;
}

/** The `seq` of the stored mark `fact`, or null: from what was read for the burst, else from the database. */
async function markSeq(fact: string, known: KnownMarks): Promise<number | null> {
  return known.has(fact) ? known.get(fact)! : storedMarkSeq(fact);
}

/**
 * Whether event `seq` is the one that counts `fact`: the first event to claim it, or that same
 * event handled again (after a crash between the claim and the count; the count's own
 * `lastSeq` guard then keeps it single). Another event naming the same fact (a customer's
 * second interaction of the month, or one a rebuild counted) is a repeat and does not count.
 */
async function counts(fact: string, seq: number, known: KnownMarks): Promise<boolean> {
  const stored = known.get(fact);
  if (stored !== undefined && stored !== null) return stored === seq;
  try {
    await countMarks.insertOne({ _id: fact, seq });
    known.set(fact, seq);
    return true;
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
    const winner = await storedMarkSeq(fact);
    known.set(fact, winner);
    return winner === seq;
  }
}

/**
 * `$inc` on a counter document once per `guard` value (the consumer's `lastSeq`, a rebuild's
 * `rebuildStep`): each writer's values only grow, so one at or below the stored one was
 * counted already. A missing guard field counts as below (the other writer created the
 * document). An upsert that loses a race to create the document is retried as an update.
 */
export async function incOnce(
  collection: mongoose.Collection<CounterDoc>,
  _id: string,
  guard: { field: 'lastSeq' | 'rebuildStep'; value: number },
  inc: Record<string, number>,
): Promise<void> {
  await incIfBelow(collection, _id, guard.field, guard.value, guard.value, inc);
}

/**
 * `$inc` when the guard field is below `below` (or missing), setting it to `value`; whether it
 * was applied.
 */
async function incIfBelow(
  collection: mongoose.Collection<CounterDoc>,
  _id: string,
  field: 'lastSeq' | 'rebuildStep',
  below: number,
  value: number,
  inc: Record<string, number>,
): Promise<boolean> {
  const filter = { _id, [field]: mongoose.trusted({ $not: { $gte: below } }) };
  const update = { $inc: inc, $set: { [field]: value } };
  try {
    const r = await collection.updateOne(filter, update, { upsert: true });
    return r.matchedCount + r.upsertedCount > 0;
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
    // Either this value was counted before (no match now) or another writer created it first.
    return (await collection.updateOne(filter, update)).matchedCount > 0;
  }
}

/** The marks `countCohorts` asks about for `event` in `target`. */
function marksOf(target: EpochRef, event: EventDoc): string[] {
  const id = (key: string) => epochId(target.epoch, key);
  if (event.type === 'SEGMENT_CHANGED')
    return event.payload.reason === 'CREATED' ? [id(`size:${String(event.payload.customer._id)}`)] : [];
  if (event.type !== 'INTERACTION_RECORDED') return [];
  const { interaction, customer } = event.payload;
  if (interaction.type === 'MARKETING') return [];
  const active = id(`active:${String(customer._id)}:${monthKey(interaction.occurredAt)}`);
  return isCountedByRebuild(target, customer) ? [active] : [id(`size:${String(customer._id)}`), active];
}

async function countCohorts(target: EpochRef, event: EventDoc, known: KnownMarks): Promise<void> {
  const id = (key: string) => epochId(target.epoch, key);
  const guard = { field: 'lastSeq' as const, value: event.seq };
  if (event.type === 'SEGMENT_CHANGED') {
    const change = event.payload;
    if (change.reason !== 'CREATED') return;
    if (await counts(id(`size:${String(change.customer._id)}`), event.seq, known))
      await incOnce(cohorts, id(monthKey(change.customer.joinedAt)), guard, { size: 1 });
  } else if (event.type === 'INTERACTION_RECORDED') {
    const { interaction, customer } = event.payload;
    if (interaction.type === 'MARKETING') return; // ours, not the customer's activity
    // Only customers counted in their cohort's size — created since the consumer first ran, or
    // counted by the rebuild that made this epoch — otherwise retention could exceed 100%.
    if (!isCountedByRebuild(target, customer) && (await markSeq(id(`size:${String(customer._id)}`), known)) === null)
      return;
    const month = monthKey(interaction.occurredAt);
    if (await counts(id(`active:${String(customer._id)}:${month}`), event.seq, known))
      await incOnce(cohorts, id(monthKey(customer.joinedAt)), guard, { [`active.${month}`]: 1 });
  }
}

/** Whether `target` counts a fact recorded at `recordedAt` from its event (after its cutoff, if any). */
function countsFromEvents(target: EpochRef, recordedAt: Date): boolean {
  return !target.cutoff || recordedAt.getTime() > target.cutoff.getTime();
}

/** Whether the rebuild that made `target` counts this customer in its cohort's size (see rebuild.ts). */
export function isCountedByRebuild(target: EpochRef, customer: { createdAt: Date }): boolean {
  return target.cutoff !== null && customer.createdAt.getTime() <= target.cutoff.getTime();
}

/** When the fact an event reports was recorded: the side of an epoch's cutoff it falls on. */
function recordedAtOf(event: EventDoc): Date | null {
  if (event.type === 'INTERACTION_RECORDED') return event.payload.interaction.recordedAt;
  if (event.type === 'SEGMENT_CHANGED') return event.payload.changedAt;
  return null;
}

/** How many events after the one being handled have their count marks read with it. */
const MARKS_READ_AHEAD = 1_000;

/** The day increments of consecutive events for one counter document, not yet written. */
type PendingDay = { steps: Array<{ seq: number; inc: Record<string, number> }> };

/**
 * The analytics consumer's handler: one event moves one day's counters, once, in the live
 * epoch and in the epoch a rebuild is making — in each only when the fact was recorded after
 * that epoch's cutoff (before it, the rebuild counts it from the stored facts).
 *
 * Three costs are shared by the events of a burst. The analytics state is read once for every
 * event the log held when it was read (reading it later for one of those would add nothing:
 * what matters is that it is read after the event was appended). The count marks the events
 * this process holds will ask about are read with one query (see `KnownMarks`), not one or two
 * per event. And a day's increments wait in memory until `flush`, which the consumer calls before it stores its position: there they
 * are written with one update per day, guarded by the first event's seq, or one by one when a
 * replay finds some of them counted already. Cohorts and their marks are counted at once.
 */
export function createEventCounter(deps: {
  logPosition: () => number;
  /** The events after a seq this process holds in memory (to read their marks at once). */
  heldAfter?: (afterSeq: number, toSeq: number) => EventDoc[];
}) {
  let state: { readUpTo: number; doc: Awaited<ReturnType<typeof readAnalyticsState>> } | undefined;
  let pending = new Map<string, PendingDay>();
  let lastSeen = 0;
  let marks: { readUpTo: number; known: KnownMarks } = { readUpTo: 0, known: new Map() };

  async function stateFor(event: EventDoc) {
    if (!state || event.seq > state.readUpTo) {
      const readUpTo = deps.logPosition();
      state = { readUpTo, doc: await readAnalyticsState() };
    }
    return state.doc;
  }

  /** The marks of this event and of those held after it, read with one query once per burst. */
  async function marksFor(event: EventDoc, targets: EpochRef[]): Promise<KnownMarks> {
    if (event.seq <= marks.readUpTo) return marks.known;
    const burst = [event, ...(deps.heldAfter?.(event.seq, event.seq + MARKS_READ_AHEAD) ?? [])];
    const ids = new Set<string>();
    for (const e of burst) {
      const recordedAt = recordedAtOf(e);
      if (!recordedAt) continue;
      for (const target of targets)
        if (countsFromEvents(target, recordedAt)) for (const id of marksOf(target, e)) ids.add(id);
    }
    marks = { readUpTo: burst.at(-1)!.seq, known: await readMarks([...ids]) };
    return marks.known;
  }

  async function countEvent(event: EventDoc): Promise<void> {
    // The consumer started over from its stored position (a lost lease, a failed store): what
    // waits here is handled again, or was counted by the process that stored past it; the
    // marks known may have been written since by the process that held the lease.
    if (event.seq <= lastSeen) {
      pending = new Map();
      marks = { readUpTo: 0, known: new Map() };
    }
    lastSeen = event.seq;
    const recordedAt = recordedAtOf(event);
    if (!recordedAt) return;
    const current = await stateFor(event);
    const targets: EpochRef[] = [current.live];
    if (current.rebuild) targets.push({ epoch: current.rebuild.epoch, cutoff: current.rebuild.cutoff });
    const known = await marksFor(event, targets);
    for (const target of targets) {
      if (!countsFromEvents(target, recordedAt)) continue;
      await countCohorts(target, event, known);
      const counted = kpiIncrements(event);
      if (!counted) continue;
      const id = epochId(target.epoch, counted.day);
      const day = pending.get(id) ?? { steps: [] };
      day.steps.push({ seq: event.seq, inc: counted.inc });
      pending.set(id, day);
    }
  }

  /** Writes the day increments counted so far (each day once, whatever the number of events). */
  async function flush(): Promise<void> {
    const days = pending;
    pending = new Map();
    // The state is read again for the next events: a rebuild may start or end meanwhile.
    state = undefined;
    for (const [id, { steps }] of days) {
      const first = steps[0]!.seq;
      const last = steps.at(-1)!.seq;
      const sum: Record<string, number> = {};
      for (const { inc } of steps) for (const [path, by] of Object.entries(inc)) sum[path] = (sum[path] ?? 0) + by;
      if (await incIfBelow(kpiDays, id, 'lastSeq', first, last, sum)) continue;
      // Some were counted before a crash (a replay): each on its own guard.
      for (const { seq, inc } of steps) await incOnce(kpiDays, id, { field: 'lastSeq', value: seq }, inc);
    }
  }

  return { countEvent, flush };
}
