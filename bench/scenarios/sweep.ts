import { Types } from 'mongoose';
import { Customer, type CustomerDoc } from '../../src/modules/customers/model.js';
import { segmentFor, type SegmentPolicy } from '../../src/shared/segment-policy.js';
import type { BenchContext, Scenario } from '../context.js';

const DAY_MS = 86_400_000;
/** Writes by `_id` per command: the app's own bound on the embedded engine. */
const WRITE_BATCH = 500;

/**
 * sweep: the time-based segment re-evaluation (`sweepTimeBasedSegments`) over `total` customers
 * of which a share has just crossed the 90-day line, against the loop a competent engineer
 * writes with mongoose: every customer through a cursor, its segment computed by the same
 * `segmentFor`, and `save()` for the ones that changed (mongoose writes only modified
 * documents). Both sides run over the whole data set, at 1 % and at 10 % movers; the headline
 * is the harder of the two. Ours also records the history, the counts and the events (the
 * naive loop does none of that); the time its event-log consumers then take (the default
 * journeys message every customer that became AT_RISK) is reported beside it. So is the floor:
 * the movers' new segment written in bulk by `_id` and nothing else, the least any sweep on this
 * engine writes; the naive loop over the floor is the highest ratio a sweep could show here.
 */
export async function sweepScenario(ctx: BenchContext): Promise<{ sweep: Scenario }> {
  const total = ctx.size({ smoke: 2_000, quick: 20_000, full: 100_000 });
  const ids = await insertActiveCustomers(total);
  try {
    await ctx.domain.segments.recountSegments();
    // Warm-up of both sides on the same data, with nobody to move yet.
    await ctx.domain.segments.sweepTimeBasedSegments();
    await naiveSweep(await ctx.domain.segments.getPolicy());
    const low = await measure(ctx, ids.slice(0, total / 100));
    const high = await measure(ctx, ids.slice(0, total / 10));
    const inDatabase = await Customer.estimatedDocumentCount();
    return {
      sweep: {
        ours: high.oursS,
        baseline: high.naiveS,
        unit: 's',
        ratio: ratioOf(high.naiveS, high.oursS),
        details: {
          customers: inDatabase,
          movers10Percent: high.movers,
          ratio10Percent: ratioOf(high.naiveS, high.oursS),
          oursMsPerMover10Percent: +((high.oursS * 1000) / high.movers).toFixed(2),
          movers1Percent: low.movers,
          ours1PercentS: low.oursS,
          naive1PercentS: low.naiveS,
          ratio1Percent: ratioOf(low.naiveS, low.oursS),
          consumersAfter10PercentS: high.consumersS,
          consumersAfter1PercentS: low.consumersS,
          floor10PercentS: high.floorS,
          floorRatio10Percent: ratioOf(high.naiveS, high.floorS),
          floor1PercentS: low.floorS,
          floorRatio1Percent: ratioOf(low.naiveS, low.floorS),
        },
        note:
          `${inDatabase.toLocaleString('en')} customers, both sides over all of them; 10 % crossing 90 days: ` +
          `${high.oursS} s vs ${high.naiveS} s (${ratioOf(high.naiveS, high.oursS).toFixed(1)}×), 1 %: ${low.oursS} s vs ` +
          `${low.naiveS} s (${ratioOf(low.naiveS, low.oursS).toFixed(1)}×). Naive: a mongoose cursor and save() of the ` +
          `changed; ours also writes history, counts and events, whose consumers (the default journeys) then ` +
          `took ${high.consumersS} s at 10 %, ${low.consumersS} s at 1 %. The floor, the movers' segment written in ` +
          `bulk by _id and nothing else: ${high.floorS} s at 10 % (the naive loop's ${ratioOf(high.naiveS, high.floorS).toFixed(1)}×), ` +
          `${low.floorS} s at 1 % (${ratioOf(low.naiveS, low.floorS).toFixed(1)}×); ours ${((high.oursS * 1000) / high.movers).toFixed(2)} ms ` +
          `per mover at 10 %, all in, the floor ${((high.floorS * 1000) / high.movers).toFixed(2)} ms`,
      },
    };
  } finally {
    await ctx.settle();
    await deleteCustomers(ids);
    await ctx.domain.segments.recountSegments();
  }
}

/** One share of movers: ours timed, then the same customers made stale again and the naive loop timed. */
async function measure(ctx: BenchContext, movers: Types.ObjectId[]) {
  const crossedAt = new Date(Date.now() - 95 * DAY_MS);
  await setCustomers(movers, { activityAt: crossedAt, joinedAt: crossedAt, segment: 'NEW' });
  await ctx.domain.segments.recountSegments();
  await ctx.settle();
  await ctx.drained();
  let started = performance.now();
  const result = await ctx.domain.segments.sweepTimeBasedSegments();
  const oursS = seconds(started);
  if (result.changedCount !== movers.length)
    throw new Error(`sweep moved ${result.changedCount} customers, expected ${movers.length}`);
  started = performance.now();
  await ctx.settle();
  const consumersS = seconds(started);
  const moved = (await Customer.findById(movers[0]).lean<CustomerDoc>())!;

  // The floor: the one write any sweep must make, the movers' new segment, by `_id` in bulk,
  // with nothing read and nothing recorded.
  await setCustomers(movers, { segment: 'NEW' });
  await ctx.drained();
  started = performance.now();
  const at = new Date();
  await setCustomers(movers, { segment: moved.segment, segmentChangedAt: at, updatedAt: at });
  const floorS = seconds(started);

  await setCustomers(movers, { segment: 'NEW' });
  await ctx.domain.segments.recountSegments();
  await ctx.settle();
  await ctx.drained();
  started = performance.now();
  const saved = await naiveSweep(await ctx.domain.segments.getPolicy());
  const naiveS = seconds(started);
  if (saved !== movers.length) throw new Error(`the naive loop saved ${saved} customers, expected ${movers.length}`);
  await ctx.domain.segments.recountSegments();
  return { movers: movers.length, oursS, naiveS, consumersS, floorS };
}

/** The baseline: load every customer, decide, and save the ones whose segment changed. */
async function naiveSweep(policy: SegmentPolicy): Promise<number> {
  let saved = 0;
  for await (const customer of Customer.find().cursor()) {
    const now = new Date();
    const segment = segmentFor(customer, policy, now);
    if (customer.erasedAt || segment === customer.segment) continue;
    customer.segment = segment;
    customer.segmentChangedAt = now;
    customer.updatedAt = now;
    await customer.save();
    saved++;
  }
  return saved;
}

/** `count` customers, NEW, last active 10 days ago. */
async function insertActiveCustomers(count: number): Promise<Types.ObjectId[]> {
  const now = new Date();
  const activityAt = new Date(now.getTime() - 10 * DAY_MS);
  const ids: Types.ObjectId[] = [];
  for (let start = 0; start < count; start += 5_000) {
    const docs: CustomerDoc[] = [];
    for (let i = start; i < Math.min(count, start + 5_000); i++) {
      const _id = new Types.ObjectId();
      ids.push(_id);
      docs.push({
        _id,
        code: `SW${String(i).padStart(6, '0')}`,
        name: `Sweep ${i}`,
        tags: [],
        searchKeys: [`sweep ${i}`],
        nameLower: `sweep ${i}`,
        segment: 'NEW',
        segmentChangedAt: activityAt,
        totalPurchasesMinor: 0,
        purchaseCount: 0,
        interactionCount: 0,
        lastInteractionSortAt: new Date(0),
        activityAt,
        joinedAt: activityAt,
        rev: 0,
        createdAt: activityAt,
        updatedAt: activityAt,
      });
    }
    await Customer.collection.insertMany(docs as never[]);
  }
  return ids;
}

async function setCustomers(ids: Types.ObjectId[], fields: Partial<CustomerDoc>): Promise<void> {
  for (let i = 0; i < ids.length; i += WRITE_BATCH)
    await Customer.collection.bulkWrite(
      ids.slice(i, i + WRITE_BATCH).map((_id) => ({ updateOne: { filter: { _id }, update: { $set: fields } } })),
      { ordered: false },
    );
}

/** In batches: one delete of every id at once exceeds SQLite's variable limit in the embedded engine. */
async function deleteCustomers(ids: Types.ObjectId[]): Promise<void> {
  for (let i = 0; i < ids.length; i += WRITE_BATCH)
    await Customer.collection.deleteMany({ _id: { $in: ids.slice(i, i + WRITE_BATCH) } });
}

/** Seconds since `since`, to the millisecond (a floor at smoke size takes a few). */
function seconds(since: number): number {
  return +((performance.now() - since) / 1000).toFixed(3);
}

/** How many times `slow` is `fast`, one decimal; a time under a millisecond counts as one. */
function ratioOf(slow: number, fast: number): number {
  return +(slow / Math.max(fast, 0.001)).toFixed(1);
}
