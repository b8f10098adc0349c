/*
 * Which generation ("epoch") of the analytics counters the dashboard reads, and the rebuild in
 * progress, if any.
 *
 * Rebuilds never touch the counters the dashboard reads: a rebuild writes a new epoch's
 * documents (`_id` prefixed `e<epoch>:`) beside the live ones and swaps `live` to it in one
 * write when it is complete. Epoch 0 is the consumer's original, unprefixed documents.
 *
 * An epoch made by a rebuild has a `cutoff`: the rebuild counts the facts recorded at or before
 * it (interactions by `recordedAt`, segment changes by `changedAt`, customers by `createdAt`)
 * and the analytics consumer counts into it only events about facts recorded after it — from
 * the moment the rebuild starts, so nothing recorded during the rebuild is missed or counted
 * twice, whatever the consumer's position in the log. Each fact is on one side of the cutoff
 * by a time stored in the fact itself, which makes the split exact (a write that took its
 * `recordedAt` before the cutoff but was inserted after the rebuild read past it is the one
 * case left out; a write is milliseconds, a rebuild seconds or more).
 */
import { AnalyticsState, STATE_ID, type AnalyticsStateDoc } from './model.js';

export async function readAnalyticsState(): Promise<AnalyticsStateDoc> {
  const stored = await AnalyticsState.findById(STATE_ID).lean<AnalyticsStateDoc>();
  return stored ?? { _id: STATE_ID, live: { epoch: 0, cutoff: null }, rebuild: null, lastRebuild: null };
}

/** The `_id` of a counter document (a day, a cohort month, a count mark) in one epoch. */
export function epochId(epoch: number, key: string): string {
  return epoch === 0 ? key : `e${epoch}:${key}`;
}

/** The key of a counter document of `epoch`, or null when it belongs to another epoch. */
export function keyInEpoch(epoch: number, id: string): string | null {
  if (epoch === 0) return /^e\d+:/.test(id) ? null : id;
  const prefix = `e${epoch}:`;
  return id.startsWith(prefix) ? id.slice(prefix.length) : null;
}
