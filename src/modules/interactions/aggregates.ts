import { Types } from 'mongoose';
import pMap from 'p-map';
import type { Clock } from '../../shared/clock.js';
import type { KeyedMutex } from '../../shared/keyed-mutex.js';
import { segmentFor, type SegmentPolicy } from '../../shared/segment-policy.js';
import {
  incrementAggregates,
  incrementAggregatesMany,
  replaceAggregates,
  type AggregatesIncrement,
  type AggregatesTotals,
} from '../customers/index.js';
import type { CustomerDoc } from '../customers/model.js';
import type { SegmentMove, SegmentsService } from '../segments/service.js';
import { Interaction, type InteractionDoc, type InteractionType } from './model.js';

/**
 * What a customer's interactions make of its aggregates (counts, purchases, last activity):
 * decided here, written by the customers domain, then the segment settled by the segments
 * domain, one customer at a time within this process.
 */

export type AggregatesDeps = {
  clock: Clock;
  segments: Pick<SegmentsService, 'settleSegment'>;
  /** One writer per customer inside this process: aggregates and segment settle in order. */
  perCustomer: KeyedMutex;
};

/** Customers whose segments are settled at once after a batch's aggregates are written. */
const SETTLE_CONCURRENCY = 8;

/** MARKETING is outbound: it is on the timeline but is not the customer's own activity. */
function isCustomerActivity(type: InteractionType): boolean {
  return type !== 'MARKETING';
}

function countOf(interactions: InteractionDoc[]) {
  const purchases = interactions.filter((i) => i.type === 'PURCHASE');
  const activity = interactions.filter((i) => isCustomerActivity(i.type)).map((i) => i.occurredAt.getTime());
  return {
    interactionCount: interactions.length,
    purchaseCount: purchases.length,
    totalPurchasesMinor: purchases.reduce((sum, p) => sum + (p.amountMinor ?? 0), 0),
    latestActivityAt: activity.length ? new Date(Math.max(...activity)) : null,
  };
}

/**
 * A customer's aggregates moved by some new interactions of theirs, then its segment settled;
 * null when the customer is not live (erased meanwhile). `record` is where segment moves go.
 */
export async function applyToCustomer(
  deps: AggregatesDeps,
  customerId: Types.ObjectId,
  interactions: InteractionDoc[],
  policy: SegmentPolicy,
  record?: (move: SegmentMove) => Promise<void>,
): Promise<CustomerDoc | null> {
  return deps.perCustomer.run(String(customerId), async () => {
    const by: AggregatesIncrement = countOf(interactions);
    const updated = await incrementAggregates(customerId, by, deps.clock.now());
    return updated && (await deps.segments.settleSegment(updated, 'INTERACTION', policy, record));
  });
}

/**
 * Several customers' aggregates moved by their new interactions, and their segments with them,
 * with one write per 500 customers rather than one write each, from the customers as the caller
 * read them (`seenById`, live ones): each write applies only where the customer is still as
 * read, and a customer written meanwhile is moved on its own (`applyToCustomer`). A segment
 * moved by the write is recorded as settling it would; `settleSegment` then only checks the
 * customers written (the policy's answer can depend on the time). The customers after, by id;
 * one left out was not live.
 */
export async function applyToCustomersTogether(
  deps: AggregatesDeps,
  byCustomer: Map<string, InteractionDoc[]>,
  seenById: Map<string, CustomerDoc>,
  policy: SegmentPolicy,
  record: (move: SegmentMove) => Promise<void>,
): Promise<Map<string, CustomerDoc>> {
  const after = new Map<string, CustomerDoc>();
  const seen = [...byCustomer.keys()].flatMap((id) => seenById.get(id) ?? []);
  const now = deps.clock.now();
  const { written, changed } = await incrementAggregatesMany(
    seen.map((c) => ({ seen: c, by: countOf(byCustomer.get(String(c._id))!) })),
    now,
    (moved) => {
      const segment = segmentFor(moved, policy, now);
      return segment === moved.segment ? {} : { segment, segmentChangedAt: now };
    },
  );
  await pMap(
    written,
    async (customer) => {
      const before = seenById.get(String(customer._id))!;
      if (customer.segment !== before.segment)
        await record({ customer, from: before.segment, to: customer.segment, reason: 'INTERACTION' });
      after.set(String(customer._id), await deps.segments.settleSegment(customer, 'INTERACTION', policy, record));
    },
    { concurrency: SETTLE_CONCURRENCY },
  );
  await pMap(
    changed,
    async (customerId) => {
      const updated = await applyToCustomer(deps, customerId, byCustomer.get(String(customerId))!, policy, record);
      if (updated) after.set(String(customerId), updated);
    },
    { concurrency: SETTLE_CONCURRENCY },
  );
  return after;
}

/**
 * A customer's aggregates recomputed from all of its interactions and written with `$set`
 * (idempotent), then its segment settled: the crash repair, and a merge's last step.
 */
export async function recomputeCustomer(deps: AggregatesDeps, customerId: Types.ObjectId): Promise<CustomerDoc | null> {
  return deps.perCustomer.run(String(customerId), async () => {
    const all = await Interaction.find({ customerId }).lean<InteractionDoc[]>();
    const { latestActivityAt, ...counts } = countOf(all);
    const totals: AggregatesTotals = { ...counts, lastActivityAt: latestActivityAt };
    const fixed = await replaceAggregates(customerId, totals, deps.clock.now());
    // An erased (or merged) customer's segment stays as it was: its record is a frozen aggregate.
    return fixed && (fixed.erasedAt ? fixed : deps.segments.settleSegment(fixed, 'INTERACTION'));
  });
}
