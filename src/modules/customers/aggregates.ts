import type { Types } from 'mongoose';
import { writeWhereStillAsSeen } from './guarded-writes.js';
import { Customer, type CustomerDoc } from './model.js';

/**
 * A customer's aggregates as its interactions make them. The interactions domain says what
 * counts (which are purchases, which are the customer's own activity); the customer document
 * is written here only.
 */

/** How some new interactions move a customer's aggregates. */
export type AggregatesIncrement = {
  interactionCount: number;
  purchaseCount: number;
  totalPurchasesMinor: number;
  /** The latest of them that is the customer's own activity, or null when none is. */
  latestActivityAt: Date | null;
};

/** A customer's aggregates counted from all of its interactions. */
export type AggregatesTotals = {
  interactionCount: number;
  purchaseCount: number;
  totalPurchasesMinor: number;
  lastActivityAt: Date | null;
};

/**
 * Moves a customer's aggregates with atomic operators, by `_id`; the customer after the move,
 * or null when there is no live customer with this id (an erased one takes no new interaction).
 */
export async function incrementAggregates(
  customerId: Types.ObjectId,
  by: AggregatesIncrement,
  now: Date,
): Promise<CustomerDoc | null> {
  const latest = by.latestActivityAt;
  const update = {
    $inc: {
      interactionCount: by.interactionCount,
      rev: 1,
      ...(by.purchaseCount ? { purchaseCount: by.purchaseCount, totalPurchasesMinor: by.totalPurchasesMinor } : {}),
    },
    // Never backward: an imported past interaction does not move these.
    ...(latest ? { $max: { lastInteractionAt: latest, lastInteractionSortAt: latest, activityAt: latest } } : {}),
    $set: { updatedAt: now },
  };
  const after = await Customer.findOneAndUpdate({ _id: customerId, erasedAt: null }, update, {
    returnDocument: 'after',
  }).lean<CustomerDoc>();
  if (!after) return null;
  // activityAt is lastInteractionAt, or joinedAt before any: only a first activity dated
  // before joinedAt (an import) needs more than the $max above.
  const activityAt = after.lastInteractionAt ?? after.joinedAt;
  if (activityAt.getTime() !== after.activityAt.getTime()) {
    await Customer.updateOne({ _id: after._id }, { $set: { activityAt }, $inc: { rev: 1 } });
    after.activityAt = activityAt;
    after.rev++;
  }
  return after;
}

/** The aggregates of `seen` after `by`: what the atomic operators of `incrementAggregates` make of them. */
function aggregatesAfter(seen: CustomerDoc, by: AggregatesIncrement): Partial<CustomerDoc> {
  const latest = by.latestActivityAt;
  const later = (a: Date | null | undefined, b: Date) => (a && a.getTime() >= b.getTime() ? a : b);
  const lastInteractionAt = latest ? later(seen.lastInteractionAt, latest) : seen.lastInteractionAt;
  return {
    interactionCount: seen.interactionCount + by.interactionCount,
    purchaseCount: seen.purchaseCount + by.purchaseCount,
    totalPurchasesMinor: seen.totalPurchasesMinor + by.totalPurchasesMinor,
    ...(latest ? { lastInteractionAt, lastInteractionSortAt: later(seen.lastInteractionSortAt, latest) } : {}),
    activityAt: lastInteractionAt ?? seen.joinedAt,
  };
}

/**
 * Moves several customers' aggregates, one command per 500, each only where the customer is
 * still as `seen` (see `writeWhereStillAsSeen`). `alsoSet` adds fields decided from the customer
 * after the move (its segment), written with it. `written` are the customers after their move,
 * exactly as stored; `changed` are the ids of the others (written since they were read, erased
 * or gone), for the caller to move one by one.
 */
export async function incrementAggregatesMany(
  moves: Array<{ seen: CustomerDoc; by: AggregatesIncrement }>,
  now: Date,
  alsoSet: (after: CustomerDoc) => Partial<CustomerDoc> = () => ({}),
): Promise<{ written: CustomerDoc[]; changed: Types.ObjectId[] }> {
  const outcomes = await writeWhereStillAsSeen(
    moves.map(({ seen, by }) => {
      const set = { ...aggregatesAfter(seen, by), updatedAt: now };
      return { seen, set: { ...set, ...alsoSet({ ...seen, ...set }) } };
    }),
  );
  const written: CustomerDoc[] = [];
  const changed: Types.ObjectId[] = [];
  outcomes.forEach((outcome, k) =>
    'written' in outcome ? written.push(outcome.written) : changed.push(moves[k]!.seen._id),
  );
  return { written, changed };
}

/**
 * Writes a customer's aggregates as recounted, with `$set` (idempotent), erased customers
 * included (their record keeps its anonymous aggregates); null when there is no such customer.
 */
export async function replaceAggregates(
  customerId: Types.ObjectId,
  totals: AggregatesTotals,
  now: Date,
): Promise<CustomerDoc | null> {
  const current = await Customer.findById(customerId).lean<CustomerDoc>();
  if (!current) return null;
  const last = totals.lastActivityAt;
  return Customer.findOneAndUpdate(
    { _id: customerId },
    {
      $set: {
        interactionCount: totals.interactionCount,
        purchaseCount: totals.purchaseCount,
        totalPurchasesMinor: totals.totalPurchasesMinor,
        lastInteractionSortAt: last ?? new Date(0),
        activityAt: last ?? current.joinedAt,
        updatedAt: now,
        ...(last ? { lastInteractionAt: last } : {}),
      },
      ...(last ? {} : { $unset: { lastInteractionAt: '' } }),
      $inc: { rev: 1 },
    },
    { returnDocument: 'after' },
  ).lean<CustomerDoc>();
}
