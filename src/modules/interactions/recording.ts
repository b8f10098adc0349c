import mongoose, { Types } from 'mongoose';
import { duplicateIndexesOf } from '../../db/errors.js';
import type { EventLog } from '../../events/log.js';
import type { Logger } from '../../shared/logger.js';
import type { FieldProblem } from '../../shared/problems.js';
import { findCustomer, findCustomersAmong, isLiveCustomer } from '../customers/index.js';
import type { CustomerDoc } from '../customers/model.js';
import type { SegmentMove, SegmentsService } from '../segments/service.js';
import { applyToCustomer, applyToCustomersTogether, type AggregatesDeps } from './aggregates.js';
import type { InteractionRecordedPayload } from './events.js';
import { customerNotFound, interactionFrom, type RecordInteractionInput } from './input.js';
import { Interaction, PendingApplication, stored, type InteractionDoc } from './model.js';

export const MAX_BATCH = 1_000;
/** How many customers of a batch are applied at once. */
const BATCH_CONCURRENCY = 8;

export type RecordResult =
  { interaction: InteractionDoc; customer: CustomerDoc | null; isReplay: boolean } | { problems: FieldProblem[] };

export type RecordingDeps = AggregatesDeps & {
  logger: Logger;
  currency: string;
  events: Pick<EventLog, 'appendMany'>;
  segments: Pick<SegmentsService, 'getPolicy' | 'settleSegment' | 'recordChanges'>;
  /** This process's attempts that failed midway: interaction id → journal entry id. */
  unfinished: Map<string, string>;
  /** Finishes this process's failed attempts at these interactions (before another attempt). */
  finishUnfinished: (interactionIds: string[]) => Promise<void>;
  /**
   * Called with what was recorded (once the customer and the event are written, before the
   * journal entry is removed, so a crash replays it): campaign attribution.
   */
  onRecorded?: (recorded: InteractionDoc[]) => Promise<unknown>;
};

/**
 * How recording one interaction differs from recording a batch: the same steps, with what
 * each costs weighed for one item or for many.
 */
type WriteMode = {
  /** Where an item's fields are in the arguments (`input.…`, `inputs.<i>.…`). */
  pathOf(index: number): string[];
  /** One item looks its externalId up first (one lookup); a batch finds replays by its insert. */
  findsReplaysFirst: boolean;
  /**
   * Which customers are live: looked up (one item), or read whole with one query (a batch),
   * whose documents are then the ones its aggregates move from (`seen`).
   */
  liveCustomers(ids: string[]): Promise<{ live: Set<string>; seen?: Map<string, CustomerDoc> }>;
  /** Segment moves recorded as each happens (one item), or together after the batch. */
  recordsMovesTogether: boolean;
  /** Customers' aggregates written one by one (one item), or a batch's with one write per 500. */
  writesCustomersTogether: boolean;
};

const singleMode = (path: string[]): WriteMode => ({
  pathOf: () => path,
  findsReplaysFirst: true,
  liveCustomers: async (ids) => ({
    live: new Set((await Promise.all(ids.map(async (id) => ((await isLiveCustomer(id)) ? [id] : [])))).flat()),
  }),
  recordsMovesTogether: false,
  writesCustomersTogether: false,
});

const BATCH_MODE: WriteMode = {
  pathOf: (index) => ['inputs', String(index)],
  findsReplaysFirst: false,
  liveCustomers: async (ids) => {
    const found = await findCustomersAmong(ids.map((id) => new Types.ObjectId(id)));
    const seen = new Map(found.filter((c) => !c.erasedAt).map((c) => [String(c._id), c]));
    return { live: new Set(seen.keys()), seen };
  },
  recordsMovesTogether: true,
  writesCustomersTogether: true,
};

/** One item on its way: where it is in the call, what was asked, and what will be stored. */
type Candidate = { index: number; input: RecordInteractionInput; interaction: InteractionDoc };

/**
 * Records one interaction, crash-safe without transactions:
 * 1. a journal entry (`pending_applications`) names the interaction and its customer;
 * 2. the interaction is inserted — its `_id` comes from `externalId`, so a concurrent or
 *    later replay hits the unique `_id` and returns the original instead;
 * 3. the customer's aggregates move by atomic `$inc`/`$max`, and its segment is settled;
 * 4. the event is appended, and the journal entry removed.
 * A crash after 1 leaves the entry: `repairPendingApplications` then recomputes that
 * customer's aggregates from its interactions (idempotent), so a purchase counts once.
 */
export async function recordInteraction(
  deps: RecordingDeps,
  input: RecordInteractionInput,
  path: string[] = ['input'],
): Promise<RecordResult> {
  const [result] = await record(deps, [input], singleMode(path));
  return result!;
}

/**
 * A batch, written in bulk with the same guarantees as one at a time: each item validated
 * and idempotent on its own (its own result), the journal and the interactions inserted with
 * one command each (a duplicate `_id` is a replay), each customer's aggregates moved once for
 * all of its items, segment changes and events recorded in bulk, the journal cleared. The
 * customer in each result, and in each event, is the customer after the whole batch.
 */
export async function recordInteractions(
  deps: RecordingDeps,
  inputs: RecordInteractionInput[],
): Promise<RecordResult[] | { problems: FieldProblem[] }> {
  if (inputs.length > MAX_BATCH) {
    return {
      problems: [{ field: ['inputs'], message: `at most ${MAX_BATCH} interactions per call`, code: 'INVALID' }],
    };
  }
  return record(deps, inputs, BATCH_MODE);
}

/** The one write path, for one interaction or many: a result per input, in order. */
async function record(deps: RecordingDeps, inputs: RecordInteractionInput[], mode: WriteMode): Promise<RecordResult[]> {
  const results: RecordResult[] = new Array(inputs.length);
  let candidates: Candidate[] = [];
  for (const [index, input] of inputs.entries()) {
    const checked = interactionFrom(input, mode.pathOf(index), { now: deps.clock.now(), currency: deps.currency });
    if ('problems' in checked) results[index] = checked;
    else candidates.push({ index, input, interaction: checked.interaction });
  }
  // An earlier attempt of this process at the same interaction that failed midway is finished
  // first: so it and this one never both publish it.
  await deps.finishUnfinished(candidates.map((c) => c.interaction._id));
  if (mode.findsReplaysFirst) {
    const replays = await Promise.all(
      candidates.map((c) => c.input.externalId != null && Interaction.exists({ _id: c.interaction._id })),
    );
    for (const [k, c] of candidates.entries()) if (replays[k]) results[c.index] = await replayOf(c, mode);
    candidates = candidates.filter((_, k) => !replays[k]);
  }
  const { live, seen } = await mode.liveCustomers([
    ...new Set(candidates.map((c) => String(c.interaction.customerId))),
  ]);
  const writable = candidates.filter((c) => {
    if (live.has(String(c.interaction.customerId))) return true;
    results[c.index] = customerNotFound(mode.pathOf(c.index));
    return false;
  });
  if (!writable.length) return results;

  const attemptId = new Types.ObjectId().toHexString();
  // Items that turned out to be another attempt's interaction: that attempt finishes them.
  let othersOwn = new Set<Candidate>();
  try {
    const { inserted, duplicates } = await insertJournaled(deps, writable, attemptId);
    othersOwn = new Set(duplicates);
    const after = await applyToCustomers(deps, inserted, mode, seen);
    // Customers erased since they were read: their items go.
    const gone = inserted.filter((c) => !after.has(String(c.interaction.customerId)));
    if (gone.length)
      await Interaction.deleteMany({ _id: mongoose.trusted({ $in: gone.map((c) => c.interaction._id) }) });
    for (const c of gone) results[c.index] = customerNotFound(mode.pathOf(c.index));
    const recorded = inserted.filter((c) => after.has(String(c.interaction.customerId)));

    await deps.events.appendMany(
      'INTERACTION_RECORDED',
      recorded.map((c) => ({
        interaction: c.interaction,
        customer: after.get(String(c.interaction.customerId))!,
        ...(c.input.causedBy ? { causedBy: c.input.causedBy } : {}),
      })) satisfies InteractionRecordedPayload[],
    );
    await deps.onRecorded?.(recorded.map((c) => c.interaction));
    await PendingApplication.deleteOne({ _id: attemptId });

    for (const c of recorded)
      results[c.index] = {
        interaction: c.interaction,
        customer: after.get(String(c.interaction.customerId)) ?? null,
        isReplay: false,
      };
    for (const c of duplicates) results[c.index] = await replayOf(c, mode);
    return results;
  } catch (err) {
    // Nothing of this attempt was acknowledged; whatever it wrote is finished by a replay of
    // the same externalId, or by the repair job, without waiting for the stale delay.
    for (const c of writable) if (!othersOwn.has(c)) deps.unfinished.set(c.interaction._id, attemptId);
    throw err;
  }
}

/**
 * The attempt's journal entry, then the interactions, each with one command; an interaction
 * whose `_id` exists already (in the same call or before it) is a replay, not inserted.
 */
async function insertJournaled(deps: RecordingDeps, writable: Candidate[], attemptId: string) {
  await stored.pendingApplications().insertOne({
    _id: attemptId,
    startedAt: deps.clock.now(),
    items: writable.map((c) => ({ interactionId: c.interaction._id, customerId: c.interaction.customerId })),
  });
  const duplicateAt = new Set<number>();
  try {
    await stored.interactions().insertMany(
      writable.map((c) => c.interaction),
      { ordered: false },
    );
  } catch (err) {
    const indexes = duplicateIndexesOf(err);
    if (!indexes) throw err;
    for (const index of indexes) duplicateAt.add(index);
  }
  return {
    inserted: writable.filter((_, k) => !duplicateAt.has(k)),
    duplicates: writable.filter((_, k) => duplicateAt.has(k)),
  };
}

/**
 * Each customer once, for all of its inserted items: aggregates, then its segment. The
 * customers after, by id; a customer missing from it was not live any more.
 */
async function applyToCustomers(
  deps: RecordingDeps,
  inserted: Candidate[],
  mode: WriteMode,
  seen: Map<string, CustomerDoc> | undefined,
): Promise<Map<string, CustomerDoc>> {
  const after = new Map<string, CustomerDoc>();
  if (!inserted.length) return after;
  const byCustomer = new Map<string, InteractionDoc[]>();
  for (const c of inserted) {
    const key = String(c.interaction.customerId);
    byCustomer.set(key, [...(byCustomer.get(key) ?? []), c.interaction]);
  }
  const moves: SegmentMove[] = [];
  const collect = async (m: SegmentMove) => void moves.push(m);
  const record = mode.recordsMovesTogether ? collect : undefined;
  const policy = await deps.segments.getPolicy();
  if (mode.writesCustomersTogether && seen) {
    const together = await applyToCustomersTogether(deps, byCustomer, seen, policy, collect);
    await deps.segments.recordChanges(moves);
    return together;
  }
  const pending = [...byCustomer.entries()];
  const worker = async () => {
    for (let next = pending.shift(); next; next = pending.shift()) {
      const [customerId, interactions] = next;
      const updated = await applyToCustomer(deps, new Types.ObjectId(customerId), interactions, policy, record);
      if (updated) after.set(customerId, updated);
    }
  };
  await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, pending.length) }, worker));
  await deps.segments.recordChanges(moves);
  return after;
}

/** The original of a replayed externalId, or a problem when it was used for something else. */
async function replayOf(c: Candidate, mode: WriteMode): Promise<RecordResult> {
  const original = await Interaction.findById(c.interaction._id).lean<InteractionDoc>();
  if (!original) throw new Error(`interaction ${c.interaction._id} vanished during a replay`);
  if (!original.customerId.equals(c.interaction.customerId) || original.type !== c.input.type) {
    return {
      problems: [
        {
          field: [...mode.pathOf(c.index), 'externalId'],
          message: 'this externalId was already used for a different interaction',
          code: 'DUPLICATE',
        },
      ],
    };
  }
  return { interaction: original, customer: await findCustomer(original.customerId), isReplay: true };
}
