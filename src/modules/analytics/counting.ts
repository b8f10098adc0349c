import mongoose from 'mongoose';
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
 * Whether event `seq` is the one that counts `fact`: the first event to claim it, or that same
 * event handled again (after a crash between the claim and the count; the count's own
 * `lastSeq` guard then keeps it single). Another event naming the same fact (a customer's
 * second interaction of the month, or one a rebuild counted) is a repeat and does not count.
 */
async function counts(fact: string, seq: number): Promise<boolean> {
  try {
    await countMarks.insertOne({ _id: fact, seq });
    return true;
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
    return (await CountMark.findById(fact).lean())?.seq === seq;
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

async function countCohorts(target: EpochRef, event: EventDoc): Promise<void> {
  const id = (key: string) => epochId(target.epoch, key);
  const guard = { field: 'lastSeq' as const, value: event.seq };
  if (event.type === 'SEGMENT_CHANGED') {
    const change = event.payload;
    if (change.reason !== 'CREATED') return;
    if (await counts(id(`size:${String(change.customer._id)}`), event.seq))
      await incOnce(cohorts, id(monthKey(change.customer.joinedAt)), guard, { size: 1 });
  } else if (event.type === 'INTERACTION_RECORDED') {
    const { interaction, customer } = event.payload;
    if (interaction.type === 'MARKETING') return; // ours, not the customer's activity
    // Only customers counted in their cohort's size — created since the consumer first ran, or
    // counted by the rebuild that made this epoch — otherwise retention could exceed 100%.
    if (!isCountedByRebuild(target, customer) && !(await CountMark.exists({ _id: id(`size:${String(customer._id)}`) })))
      return;
    const month = monthKey(interaction.occurredAt);
    if (await counts(id(`active:${String(customer._id)}:${month}`), event.seq))
      await incOnce(cohorts, id(monthKey(customer.joinedAt)), guard, { [`active.${month}`]: 1 });
  }
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

/** The day increments of consecutive events for one counter document, not yet written. */
type PendingDay = { steps: Array<{ seq: number; inc: Record<string, number> }> };

/**
 * The analytics consumer's handler: one event moves one day's counters, once, in the live
 * epoch and in the epoch a rebuild is making — in each only when the fact was recorded after
 * that epoch's cutoff (before it, the rebuild counts it from the stored facts).
 *
 * Two costs are shared by the events of a burst. The analytics state is read once for every
 * event the log held when it was read (reading it later for one of those would add nothing:
 * what matters is that it is read after the event was appended). And a day's increments wait
 * in memory until `flush`, which the consumer calls before it stores its position: there they
 * are written with one update per day, guarded by the first event's seq, or one by one when a
 * replay finds some of them counted already. Cohorts and their marks are counted at once.
 */
export function createEventCounter(deps: { logPosition: () => number }) {
  let state: { readUpTo: number; doc: Awaited<ReturnType<typeof readAnalyticsState>> } | undefined;
  let pending = new Map<string, PendingDay>();
  let lastSeen = 0;

  async function stateFor(event: EventDoc) {
    if (!state || event.seq > state.readUpTo) {
      const readUpTo = deps.logPosition();
      state = { readUpTo, doc: await readAnalyticsState() };
    }
    return state.doc;
  }

  async function countEvent(event: EventDoc): Promise<void> {
    // The consumer started over from its stored position (a lost lease, a failed store): what
    // waits here is handled again, or was counted by the process that stored past it.
    if (event.seq <= lastSeen) pending = new Map();
    lastSeen = event.seq;
    const recordedAt = recordedAtOf(event);
    if (!recordedAt) return;
    const current = await stateFor(event);
    const targets: EpochRef[] = [current.live];
    if (current.rebuild) targets.push({ epoch: current.rebuild.epoch, cutoff: current.rebuild.cutoff });
    for (const target of targets) {
      if (target.cutoff && recordedAt.getTime() <= target.cutoff.getTime()) continue;
      await countCohorts(target, event);
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
