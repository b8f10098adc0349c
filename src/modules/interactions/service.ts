import mongoose, { Types } from 'mongoose';
import type { Clock } from '../../shared/clock.js';
import { KeyedMutex } from '../../shared/keyed-mutex.js';
import type { Logger } from '../../shared/logger.js';
import { MoneyError, parseAmount } from '../../shared/money.js';
import { Customer, type CustomerDoc } from '../customers/model.js';
import type { InteractionRecordedPayload } from './events.js';
import type { FieldProblem } from '../../shared/problems.js';
import type { EventLog } from '../../events/log.js';
import { Event } from '../../events/model.js';
import type { Causation } from '../automation/model.js';
import type { SegmentMove, SegmentsService } from '../segments/service.js';
import { findInteractionById, firstPagesForCustomers, listInteractions } from './timeline.js';
import { Interaction, PendingApplication, type Channel, type InteractionDoc, type InteractionType } from './model.js';
import { duplicateIndexesOf, isDuplicateKeyError } from '../../db/errors.js';

/** Interactions may be dated this far ahead of our clock (devices' clocks drift). */
const CLOCK_SKEW_MS = 5 * 60_000;
/** A journal entry older than this belongs to a writer that died; its customer is repaired. */
const STALE_PENDING_MS = 60_000;
export const MAX_BATCH = 1_000;
const BATCH_CONCURRENCY = 8;

export type RecordInteractionInput = {
  customerId: string;
  type: InteractionType;
  channel: Channel;
  description?: string | null;
  occurredAt?: Date | null;
  amount?: string | null;
  currency?: string | null;
  externalId?: string | null;
  /** Set by automation for what its rules record (not part of the API): lets loops be stopped. */
  causedBy?: Causation | null;
};

export type RecordResult =
  { interaction: InteractionDoc; customer: CustomerDoc | null; isReplay: boolean } | { problems: FieldProblem[] };

/** An interaction event as the schema shows it. */
export type InteractionEventView = { interaction: InteractionDoc; cursor: string };

/** MARKETING is outbound: it is on the timeline but is not the customer's own activity. */
function isCustomerActivity(type: InteractionType): boolean {
  return type !== 'MARKETING';
}

export type InteractionsService = ReturnType<typeof createInteractionsService>;

export function createInteractionsService(deps: {
  clock: Clock;
  logger: Logger;
  currency: string;
  events: EventLog;
  segments: SegmentsService;
  /**
   * Called with what was recorded (once the customer and the event are written, before the
   * journal entry is removed, so a crash replays it): campaign attribution.
   */
  onRecorded?: (recorded: InteractionDoc[]) => Promise<unknown>;
}) {
  const { clock, segments, events } = deps;
  // One writer per customer inside this process: aggregates and segment settle in order.
  const perCustomer = new KeyedMutex();

  function validate(
    input: RecordInteractionInput,
    path: string[],
  ): { doc: Omit<InteractionDoc, '_id' | 'customerId'>; customerId: string } | { problems: FieldProblem[] } {
    const problems: FieldProblem[] = [];
    const invalid = (field: string, message: string) =>
      problems.push({ field: [...path, field], message, code: 'INVALID' });
    const now = clock.now();
    const occurredAt = input.occurredAt ?? now;
    if (occurredAt.getTime() > now.getTime() + CLOCK_SKEW_MS)
      invalid('occurredAt', 'occurredAt must not be in the future');
    if (input.description != null && input.description.length > 2_000)
      invalid('description', 'description must be at most 2000 characters');
    if (input.externalId != null && (input.externalId.length < 1 || input.externalId.length > 200))
      invalid('externalId', 'externalId must be 1 to 200 characters');
    if (input.currency != null && input.currency !== deps.currency) {
      invalid('currency', `only ${deps.currency} is accepted (the deployment currency); got ${input.currency}`);
    }
    let amountMinor: number | undefined;
    if (input.type === 'PURCHASE') {
      if (input.amount == null) invalid('amount', 'a PURCHASE needs an amount');
      else {
        try {
          amountMinor = parseAmount(input.amount, deps.currency);
          if (amountMinor <= 0) invalid('amount', 'amount must be greater than zero');
        } catch (err) {
          if (!(err instanceof MoneyError)) throw err;
          invalid('amount', err.message);
        }
      }
    } else if (input.amount != null) {
      invalid('amount', 'only a PURCHASE has an amount');
    }
    if (problems.length) return { problems };
    return {
      customerId: input.customerId,
      doc: {
        type: input.type,
        channel: input.channel,
        ...(input.description != null ? { description: input.description } : {}),
        occurredAt,
        recordedAt: now,
        ...(amountMinor !== undefined ? { amountMinor, currency: deps.currency } : {}),
        ...(input.externalId != null ? { externalId: input.externalId } : {}),
      },
    };
  }

  async function replayOf(id: string, input: RecordInteractionInput, path: string[]): Promise<RecordResult> {
    const original = await Interaction.findById(id).lean<InteractionDoc>();
    if (!original) throw new Error(`interaction ${id} vanished during a replay`);
    if (String(original.customerId) !== input.customerId || original.type !== input.type) {
      return {
        problems: [
          {
            field: [...path, 'externalId'],
            message: 'this externalId was already used for a different interaction',
            code: 'DUPLICATE',
          },
        ],
      };
    }
    return {
      interaction: original,
      customer: await Customer.findById(original.customerId).lean<CustomerDoc>(),
      isReplay: true,
    };
  }

  /**
   * Ids of customers known to exist. Existence never ends — a customer document is never
   * removed (erasure blanks personal data and keeps the record) — so a batch skips the
   * look-up for customers this process has already seen. Bounded: forgotten wholesale when full.
   */
  const knownCustomers = new Set<string>();
  const KNOWN_CUSTOMERS_MAX = 200_000;

  /** Which of these customer ids exist: remembered ones, then one lookup by `_id` each for the rest. */
  async function existingCustomerIds(ids: string[]): Promise<Set<string>> {
    const unknown = ids.filter((id) => !knownCustomers.has(id));
    // One lookup by _id each (the embedded engine's indexed path) rather than one $in scan.
    const found = await Promise.all(unknown.map((id) => Customer.exists({ _id: id, erasedAt: null })));
    if (knownCustomers.size + unknown.length > KNOWN_CUSTOMERS_MAX) knownCustomers.clear();
    unknown.forEach((id, i) => found[i] && knownCustomers.add(id));
    return new Set(ids.filter((id) => knownCustomers.has(id)));
  }

  /** A customer's aggregates, moved by some of its interactions with atomic operators, by `_id`. */
  async function applyToCustomer(
    customerId: Types.ObjectId,
    interactions: InteractionDoc[],
  ): Promise<CustomerDoc | null> {
    const purchases = interactions.filter((i) => i.type === 'PURCHASE');
    const activity = interactions.filter((i) => isCustomerActivity(i.type)).map((i) => i.occurredAt.getTime());
    const latest = activity.length ? new Date(Math.max(...activity)) : null;
    const update = {
      $inc: {
        interactionCount: interactions.length,
        rev: 1,
        ...(purchases.length
          ? {
              purchaseCount: purchases.length,
              totalPurchasesMinor: purchases.reduce((sum, p) => sum + (p.amountMinor ?? 0), 0),
            }
          : {}),
      },
      // Never backward: an imported past interaction does not move these.
      ...(latest ? { $max: { lastInteractionAt: latest, lastInteractionSortAt: latest, activityAt: latest } } : {}),
      $set: { updatedAt: clock.now() },
    };
    // An erased (deleted) customer takes no new interactions: null, as for an unknown one.
    const after = await Customer.findOneAndUpdate({ _id: customerId, erasedAt: null }, update, {
      returnDocument: 'after',
    }).lean<CustomerDoc>();
    if (!after) return null;
    // activityAt is lastInteractionAt, or joinedAt before any: only a first activity dated
    // before joinedAt (an import) needs more than the $max above.
    const activityAt = after.lastInteractionAt ?? after.joinedAt;
    if (activityAt.getTime() !== after.activityAt.getTime()) {
      await Customer.updateOne({ _id: after._id }, { $set: { activityAt } });
      after.activityAt = activityAt;
    }
    return after;
  }

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
  async function recordInteraction(input: RecordInteractionInput, path: string[] = ['input']): Promise<RecordResult> {
    const checked = validate(input, path);
    if ('problems' in checked) return checked;
    if (!Types.ObjectId.isValid(checked.customerId) || checked.customerId.length !== 24) {
      return { problems: [{ field: [...path, 'customerId'], message: 'no customer has this id', code: 'NOT_FOUND' }] };
    }
    const customerId = new Types.ObjectId(checked.customerId);
    const id = input.externalId != null ? `x:${input.externalId}` : `i:${new Types.ObjectId().toHexString()}`;
    if (input.externalId != null && (await Interaction.exists({ _id: id }))) return replayOf(id, input, path);

    const customer = await Customer.findById(customerId).lean<CustomerDoc>();
    if (!customer || customer.erasedAt)
      return { problems: [{ field: [...path, 'customerId'], message: 'no customer has this id', code: 'NOT_FOUND' }] };

    const interaction: InteractionDoc = { _id: id, customerId, ...checked.doc };
    const attemptId = new Types.ObjectId().toHexString();
    await PendingApplication.collection.insertOne({
      _id: attemptId,
      interactionId: id,
      customerId,
      startedAt: clock.now(),
    } as never);
    try {
      await Interaction.collection.insertOne(interaction as never);
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
      // Another attempt with this externalId wrote it first: this one is a replay.
      await PendingApplication.deleteOne({ _id: attemptId });
      return replayOf(id, input, path);
    }
    const after = await perCustomer.run(String(customerId), async () => {
      const updated = await applyToCustomer(customerId, [interaction]);
      return updated && (await segments.settleSegment(updated, 'INTERACTION'));
    });
    if (!after) {
      // Erased between the check and the update: the interaction goes, nothing else moved.
      await Interaction.deleteOne({ _id: interaction._id });
      await PendingApplication.deleteOne({ _id: attemptId });
      return { problems: [{ field: [...path, 'customerId'], message: 'no customer has this id', code: 'NOT_FOUND' }] };
    }
    if (after)
      await events.append('INTERACTION_RECORDED', {
        interaction,
        customer: after,
        ...(input.causedBy ? { causedBy: input.causedBy } : {}),
      } satisfies InteractionRecordedPayload);
    await deps.onRecorded?.([interaction]);
    await PendingApplication.deleteOne({ _id: attemptId });
    return { interaction, customer: after, isReplay: false };
  }

  async function recordPurchase(
    input: Omit<RecordInteractionInput, 'type'> & { amount: string },
  ): Promise<RecordResult> {
    return recordInteraction({ ...input, type: 'PURCHASE' });
  }

  /**
   * A batch, written in bulk with the same guarantees as one at a time: each item validated
   * and idempotent on its own (its own result), the journal and the interactions inserted with
   * one command each (a duplicate `_id` is a replay), each customer's aggregates moved once for
   * all of its items, segment changes and events recorded in bulk, the journal cleared. The
   * customer in each result, and in each event, is the customer after the whole batch.
   */
  async function recordInteractions(
    inputs: RecordInteractionInput[],
  ): Promise<RecordResult[] | { problems: FieldProblem[] }> {
    if (inputs.length > MAX_BATCH) {
      return {
        problems: [{ field: ['inputs'], message: `at most ${MAX_BATCH} interactions per call`, code: 'INVALID' }],
      };
    }
    const results: RecordResult[] = new Array(inputs.length);
    const notFound = (i: number): RecordResult => ({
      problems: [{ field: ['inputs', String(i), 'customerId'], message: 'no customer has this id', code: 'NOT_FOUND' }],
    });

    // 1. Validation, item by item.
    type Candidate = { index: number; input: RecordInteractionInput; doc: InteractionDoc };
    const candidates: Candidate[] = [];
    for (const [index, input] of inputs.entries()) {
      const checked = validate(input, ['inputs', String(index)]);
      if ('problems' in checked) {
        results[index] = checked;
        continue;
      }
      if (!Types.ObjectId.isValid(checked.customerId) || checked.customerId.length !== 24) {
        results[index] = notFound(index);
        continue;
      }
      const id = input.externalId != null ? `x:${input.externalId}` : `i:${new Types.ObjectId().toHexString()}`;
      candidates.push({
        index,
        input,
        doc: { _id: id, customerId: new Types.ObjectId(checked.customerId), ...checked.doc },
      });
    }
    const customerIds = [...new Set(candidates.map((c) => String(c.doc.customerId)))];
    const known = await existingCustomerIds(customerIds);
    const writable = candidates.filter((c) => {
      if (known.has(String(c.doc.customerId))) return true;
      results[c.index] = notFound(c.index);
      return false;
    });
    if (!writable.length) return results;

    // 2. Journal, then the interactions; a duplicate _id (in the batch or before it) is a replay.
    const attemptIds = writable.map(() => new Types.ObjectId().toHexString());
    await PendingApplication.collection.insertMany(
      writable.map((c, k) => ({
        _id: attemptIds[k],
        interactionId: c.doc._id,
        customerId: c.doc.customerId,
        startedAt: clock.now(),
      })) as never[],
    );
    const duplicates = new Set<number>();
    try {
      await Interaction.collection.insertMany(writable.map((c) => c.doc) as never[], { ordered: false });
    } catch (err) {
      const indexes = duplicateIndexesOf(err);
      if (!indexes) throw err;
      for (const index of indexes) duplicates.add(index);
    }
    let inserted = writable.filter((_, k) => !duplicates.has(k));

    // 3. Each customer once: aggregates, then its segment; changes recorded together.
    const byCustomer = new Map<string, InteractionDoc[]>();
    for (const c of inserted)
      byCustomer.set(String(c.doc.customerId), [...(byCustomer.get(String(c.doc.customerId)) ?? []), c.doc]);
    const moves: SegmentMove[] = [];
    const after = new Map<string, CustomerDoc>();
    const policy = await segments.getPolicy();
    const pending = [...byCustomer.entries()];
    const worker = async () => {
      for (let next = pending.shift(); next; next = pending.shift()) {
        const [customerId, docs] = next;
        await perCustomer.run(customerId, async () => {
          const updated = await applyToCustomer(new Types.ObjectId(customerId), docs);
          if (!updated) return;
          after.set(
            customerId,
            await segments.settleSegment(updated, 'INTERACTION', policy, async (m) => void moves.push(m)),
          );
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(BATCH_CONCURRENCY, pending.length) }, worker));
    await segments.recordChanges(moves);
    // Customers erased meanwhile (another process's cache still knew them): their items go.
    const gone = inserted.filter((c) => !after.has(String(c.doc.customerId)));
    if (gone.length) {
      await Interaction.deleteMany({ _id: mongoose.trusted({ $in: gone.map((c) => c.doc._id) }) });
      for (const c of gone) results[c.index] = notFound(c.index);
      inserted = inserted.filter((c) => after.has(String(c.doc.customerId)));
    }

    // 4. Events for what was recorded now, and the journal cleared.
    await events.appendMany(
      'INTERACTION_RECORDED',
      inserted.flatMap((c) => {
        const customer = after.get(String(c.doc.customerId));
        return customer ? [{ interaction: c.doc, customer } satisfies InteractionRecordedPayload] : [];
      }),
    );
    await deps.onRecorded?.(inserted.map((c) => c.doc));
    await PendingApplication.deleteMany({ _id: mongoose.trusted({ $in: attemptIds }) });

    for (const c of inserted)
      results[c.index] = { interaction: c.doc, customer: after.get(String(c.doc.customerId)) ?? null, isReplay: false };
    for (const k of duplicates) {
      const c = writable[k]!;
      results[c.index] = await replayOf(c.doc._id, { ...c.input, customerId: String(c.doc.customerId) }, [
        'inputs',
        String(c.index),
      ]);
    }
    return results;
  }

  /**
   * A customer's aggregates recomputed from all of its interactions and written with `$set`
   * (idempotent), then its segment settled: the crash repair, and a merge's last step.
   */
  async function recomputeCustomer(customerId: Types.ObjectId): Promise<CustomerDoc | null> {
    return perCustomer.run(String(customerId), async () => {
      const all = await Interaction.find({ customerId }).lean<InteractionDoc[]>();
      const purchases = all.filter((i) => i.type === 'PURCHASE');
      const activity = all.filter((i) => isCustomerActivity(i.type)).map((i) => i.occurredAt.getTime());
      const last = activity.length ? new Date(Math.max(...activity)) : null;
      const current = await Customer.findById(customerId).lean<CustomerDoc>();
      if (!current) return null;
      const fixed = await Customer.findOneAndUpdate(
        { _id: customerId },
        {
          $set: {
            interactionCount: all.length,
            purchaseCount: purchases.length,
            totalPurchasesMinor: purchases.reduce((sum, p) => sum + (p.amountMinor ?? 0), 0),
            lastInteractionSortAt: last ?? new Date(0),
            activityAt: last ?? current.joinedAt,
            updatedAt: clock.now(),
            ...(last ? { lastInteractionAt: last } : {}),
          },
          ...(last ? {} : { $unset: { lastInteractionAt: '' } }),
          $inc: { rev: 1 },
        },
        { returnDocument: 'after' },
      ).lean<CustomerDoc>();
      // An erased (or merged) customer's segment stays as it was: its record is a frozen aggregate.
      return fixed && (fixed.erasedAt ? fixed : segments.settleSegment(fixed, 'INTERACTION'));
    });
  }

  /**
   * Finishes what a crashed writer left in the journal: for each customer named there, its
   * aggregates are recomputed from all of its interactions and written with `$set` (so running
   * this twice, or after a writer that did finish, changes nothing), then its segment settled.
   */
  async function repairPendingApplications(olderThanMs = STALE_PENDING_MS): Promise<number> {
    const cutoff = new Date(clock.now().getTime() - olderThanMs);
    const stale = await PendingApplication.find({ startedAt: mongoose.trusted({ $lte: cutoff }) }).lean();
    if (!stale.length) return 0;
    const customerIds = [...new Set(stale.map((p) => String(p.customerId)))].map((id) => new Types.ObjectId(id));
    for (const customerId of customerIds) await recomputeCustomer(customerId);
    // The events a crashed writer did publish (one scan of the log, on this repair path only), so
    // that no consumer — automation, webhooks, analytics — sees an interaction twice.
    const published = new Set(
      (
        await Event.find({
          type: 'INTERACTION_RECORDED',
          'payload.interaction._id': mongoose.trusted({ $in: stale.map((p) => p.interactionId) }),
        })
          .select({ 'payload.interaction._id': 1 })
          .lean<Array<{ payload: { interaction: { _id: string } } }>>()
      ).map((e) => e.payload.interaction._id),
    );
    for (const p of stale) {
      const interaction = await Interaction.findById(p.interactionId).lean<InteractionDoc>();
      const customer = interaction && (await Customer.findById(interaction.customerId).lean<CustomerDoc>());
      if (interaction && customer && !published.has(interaction._id)) {
        await events.append('INTERACTION_RECORDED', { interaction, customer } satisfies InteractionRecordedPayload);
      }
      // Attribution is idempotent by the purchase's id: safe to run again.
      if (interaction) await deps.onRecorded?.([interaction]);
      await PendingApplication.deleteOne({ _id: p._id });
    }
    deps.logger.warn(
      { repaired: stale.length, customers: customerIds.length },
      'repaired interactions left by a crashed writer',
    );
    return stale.length;
  }

  return {
    recordInteraction,
    recordPurchase,
    recordInteractions,
    repairPendingApplications,
    recomputeCustomer,
    findById: findInteractionById,
    listInteractions,
    firstPagesForCustomers,
  };
}
