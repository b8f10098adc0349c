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
  const filter = { _id, [guard.field]: mongoose.trusted({ $not: { $gte: guard.value } }) };
  const update = { $inc: inc, $set: { [guard.field]: guard.value } };
  try {
    await collection.updateOne(filter, update, { upsert: true });
  } catch (err) {
    if (!isDuplicateKeyError(err)) throw err;
    // Either this value was counted before (no match now) or another writer created it first.
    await collection.updateOne(filter, update);
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

async function countEventInto(target: EpochRef, event: EventDoc): Promise<void> {
  await countCohorts(target, event);
  const counted = kpiIncrements(event);
  if (!counted) return;
  await incOnce(kpiDays, epochId(target.epoch, counted.day), { field: 'lastSeq', value: event.seq }, counted.inc);
}

/**
 * The analytics consumer's handler: one event moves one day's counters, once, in the live
 * epoch and in the epoch a rebuild is making — in each only when the fact was recorded after
 * that epoch's cutoff (before it, the rebuild counts it from the stored facts).
 */
export async function countEvent(event: EventDoc): Promise<void> {
  const recordedAt = recordedAtOf(event);
  if (!recordedAt) return;
  const state = await readAnalyticsState();
  const targets: EpochRef[] = [state.live];
  if (state.rebuild) targets.push({ epoch: state.rebuild.epoch, cutoff: state.rebuild.cutoff });
  for (const target of targets)
    if (!target.cutoff || recordedAt.getTime() > target.cutoff.getTime()) await countEventInto(target, event);
}
