import mongoose, { type Types } from 'mongoose';
import pMap from 'p-map';
import { isDuplicateKeyError } from '../../db/errors.js';
import type { Segment } from '../../shared/segment-policy.js';
import { streamCustomers, trustedFilterValue } from '../customers/index.js';
import { interactionsByCustomer, type InteractionDoc } from '../interactions/index.js';
import { segmentChangesByCustomer, type SegmentChangeDoc } from '../segments/index.js';
import {
  incOnce,
  isCountedByRebuild,
  kpiIncrements,
  monthKey,
  REBUILD_MARK_SEQ,
  type StoredCustomer,
} from './counting.js';
import { epochId } from './epochs.js';
import { cohorts, CountMark, countMarks, kpiDays, type EpochRef } from './model.js';

/** One customer's stored facts, as the three cursors deliver them together. */
type CustomerFacts = {
  customerId: string;
  customer: StoredCustomer | null;
  /** Newest first. */
  changes: SegmentChangeDoc[];
  interactions: InteractionDoc[];
};

type Increments = Map<string, Record<string, number>>;

/** What one flush writes: counter increments by document, and the count marks it claims. */
export type Chunk = {
  days: Increments;
  cohorts: Increments;
  /** Cohort increments that count only if this rebuild holds the mark (see flushChunk). */
  marked: Array<{ mark: string; cohort: string; inc: Record<string, number> }>;
  customers: number;
  interactions: number;
  lastCustomerId: Types.ObjectId | null;
};

export const emptyChunk = (): Chunk => ({
  days: new Map(),
  cohorts: new Map(),
  marked: [],
  customers: 0,
  interactions: 0,
  lastCustomerId: null,
});

function addTo(target: Increments, id: string, inc: Record<string, number>): void {
  const sum = target.get(id) ?? {};
  for (const [path, by] of Object.entries(inc)) sum[path] = (sum[path] ?? 0) + by;
  target.set(id, sum);
}

/** A cursor that can look at its next document without taking it. */
class Peekable<T> {
  #next: IteratorResult<T> | undefined;
  constructor(private readonly it: AsyncIterator<T>) {}
  async peek(): Promise<T | undefined> {
    this.#next ??= await this.it.next();
    return this.#next.done ? undefined : this.#next.value;
  }
  async take(): Promise<T | undefined> {
    const v = await this.peek();
    this.#next = undefined;
    return v;
  }
  async close(): Promise<void> {
    await this.it.return?.();
  }
}

/**
 * Every customer's facts after `after`, customer by customer: one pass of three cursors, each
 * sorted by customer id (customers by `_id`; segment changes and interactions in the order of
 * their `customerId` indexes, so the engine streams them from the index), merged on the id.
 * One pass, not pages: each page would be a query of its own, and a resumed rebuild starts
 * its cursors after the checkpointed customer.
 */
export async function* customerFacts(after: Types.ObjectId | null): AsyncGenerator<CustomerFacts> {
  const stream = <T>(source: AsyncIterable<T>) => new Peekable<T>(source[Symbol.asyncIterator]());
  const customers = stream(
    streamCustomers(after ? { _id: trustedFilterValue({ $gt: after }) } : {}, { sort: { _id: 1 } }),
  );
  const changes = stream(segmentChangesByCustomer(after));
  const interactions = stream(interactionsByCustomer(after));
  try {
    for (;;) {
      const heads = [
        (await customers.peek())?._id,
        (await changes.peek())?.customerId,
        (await interactions.peek())?.customerId,
      ].flatMap((id) => (id ? [id.toHexString()] : []));
      if (!heads.length) return;
      // ObjectIds sort as their bytes, which is the order of their hex digits.
      const customerId = heads.reduce((a, b) => (a < b ? a : b));
      const facts: CustomerFacts = { customerId, customer: null, changes: [], interactions: [] };
      if ((await customers.peek())?._id.toHexString() === customerId) facts.customer = (await customers.take())!;
      while ((await changes.peek())?.customerId.toHexString() === customerId)
        facts.changes.push((await changes.take())!);
      while ((await interactions.peek())?.customerId.toHexString() === customerId)
        facts.interactions.push((await interactions.take())!);
      yield facts;
    }
  } finally {
    await Promise.all([customers.close(), changes.close(), interactions.close()]);
  }
}

/**
 * The customer's segment when an interaction was recorded, from its segment history: the last
 * change made at or before then (the consumer sees the customer right after the interaction
 * was applied, which is this change when the interaction caused one); before its first
 * recorded change, that change's segment; without history, its segment now.
 */
function segmentWhen(at: Date, customer: StoredCustomer, changesNewestFirst: SegmentChangeDoc[]): Segment {
  const before = changesNewestFirst.find((c) => c.changedAt.getTime() <= at.getTime());
  return (before ?? changesNewestFirst.at(-1))?.to ?? customer.segment;
}

/**
 * Adds one customer's facts recorded at or before the epoch's cutoff to the chunk, through the
 * consumer's own `kpiIncrements` (each fact as the event the consumer would have seen), so the
 * documents have the consumer's shape. Customers no longer stored (their history is not the
 * dashboard's) are skipped.
 */
export function addCustomerFacts(chunk: Chunk, target: EpochRef & { cutoff: Date }, facts: CustomerFacts): void {
  const { customer } = facts;
  const cutoff = target.cutoff.getTime();
  // Customers created after the cutoff have no facts before it. Skipping them keeps the chunks
  // (which count customers) the same when the rebuild is resumed after more were created.
  if (!customer || customer.createdAt.getTime() > cutoff) return;
  const id = (key: string) => epochId(target.epoch, key);
  chunk.customers++;
  chunk.lastCustomerId = customer._id;
  for (const change of facts.changes) {
    if (change.changedAt.getTime() > cutoff) continue;
    const counted = kpiIncrements({ type: 'SEGMENT_CHANGED', payload: { ...change, customer } });
    if (counted) addTo(chunk.days, id(counted.day), counted.inc);
  }
  const isInCohort = isCountedByRebuild(target, customer);
  if (isInCohort)
    chunk.marked.push({
      mark: id(`size:${String(customer._id)}`),
      cohort: id(monthKey(customer.joinedAt)),
      inc: { size: 1 },
    });
  const activeMonths = new Set<string>();
  for (const interaction of facts.interactions) {
    if (interaction.recordedAt.getTime() > cutoff) continue;
    chunk.interactions++;
    const segment = segmentWhen(interaction.recordedAt, customer, facts.changes);
    const counted = kpiIncrements({
      type: 'INTERACTION_RECORDED',
      payload: { interaction, customer: { ...customer, segment } },
    });
    if (counted) addTo(chunk.days, id(counted.day), counted.inc);
    if (isInCohort && interaction.type !== 'MARKETING') activeMonths.add(monthKey(interaction.occurredAt));
  }
  for (const month of activeMonths)
    chunk.marked.push({
      mark: id(`active:${String(customer._id)}:${month}`),
      cohort: id(monthKey(customer.joinedAt)),
      inc: { [`active.${month}`]: 1 },
    });
}

/**
 * Writes one chunk as flush `step`: first the count marks (a mark the consumer already holds —
 * it counted that customer-month from an event after the cutoff — is not this rebuild's to
 * count; one this rebuild wrote before a crash still is), then every counter document's
 * increments, each guarded by `rebuildStep` so that a flush written again after a crash
 * before its checkpoint adds nothing twice.
 */
export async function flushChunk(chunk: Chunk, step: number): Promise<void> {
  if (chunk.marked.length) {
    const marks = chunk.marked.map((m) => m.mark);
    try {
      await countMarks.insertMany(
        marks.map((_id) => ({ _id, seq: REBUILD_MARK_SEQ })),
        { ordered: false },
      );
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
    const ours = new Set(
      (await CountMark.find({ _id: mongoose.trusted({ $in: marks }) }).lean())
        .filter((m) => m.seq === REBUILD_MARK_SEQ)
        .map((m) => m._id),
    );
    for (const m of chunk.marked) if (ours.has(m.mark)) addTo(chunk.cohorts, m.cohort, m.inc);
  }
  const guard = { field: 'rebuildStep' as const, value: step };
  const writes = [
    ...[...chunk.days].map(
      ([id, inc]) =>
        () =>
          incOnce(kpiDays, id, guard, inc),
    ),
    ...[...chunk.cohorts].map(
      ([id, inc]) =>
        () =>
          incOnce(cohorts, id, guard, inc),
    ),
  ];
  await pMap(writes, (write) => write(), { concurrency: 8 });
}
