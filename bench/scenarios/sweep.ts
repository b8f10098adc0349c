import { Types } from 'mongoose';
import { Customer, type CustomerDoc } from '../../src/modules/customers/model.js';
import type { Domain } from '../../src/app/domain.js';
import { segmentFor } from '../../src/shared/segment-policy.js';

const DAY_MS = 86_400_000;

/**
 * sweep: the time-based segment re-evaluation over `total` customers, of which `movers` have
 * just crossed the 90-day line, against the naive loop that loads and saves every customer.
 * The naive loop is timed on a sample of the same data and scaled (it costs the same per
 * customer whatever the size: one lookup and one write by _id).
 */
export async function sweepScenario(domain: Domain, opts: { total: number; movers: number; naiveSample: number }) {
  const now = new Date();
  for (let start = 0; start < opts.total; start += 5_000) {
    const docs: CustomerDoc[] = [];
    for (let i = start; i < Math.min(opts.total, start + 5_000); i++) {
      const activityAt = new Date(now.getTime() - (i < opts.movers ? 95 : 10) * DAY_MS);
      docs.push({
        _id: new Types.ObjectId(),
        code: `B${String(i).padStart(6, '0')}`,
        name: `Bench ${i}`,
        tags: [],
        searchKeys: [`bench ${i}`],
        nameLower: `bench ${i}`,
        segment: 'NEW',
        segmentChangedAt: now,
        totalPurchasesMinor: 0,
        purchaseCount: 0,
        interactionCount: 0,
        lastInteractionSortAt: new Date(0),
        activityAt,
        joinedAt: activityAt,
        rev: 0,
        createdAt: now,
        updatedAt: now,
      });
    }
    await Customer.collection.insertMany(docs as never[]);
  }
  await domain.segments.recountSegments();

  const started = performance.now();
  const result = await domain.segments.sweepTimeBasedSegments();
  const oursSeconds = (performance.now() - started) / 1000;
  if (result.changedCount !== opts.movers)
    throw new Error(`sweep moved ${result.changedCount} customers, expected ${opts.movers}`);

  // The naive loop: every customer loaded by id, evaluated, and saved.
  const policy = await domain.segments.getPolicy();
  const sample = await Customer.find({}, { _id: 1 }).limit(opts.naiveSample).lean();
  const naiveStarted = performance.now();
  for (const { _id } of sample) {
    const c = await Customer.findById(_id).lean<CustomerDoc>();
    if (!c) continue;
    await Customer.updateOne({ _id }, { $set: { segment: segmentFor(c, policy, new Date()), updatedAt: new Date() } });
  }
  const naiveSeconds = ((performance.now() - naiveStarted) / 1000) * (opts.total / sample.length);

  return {
    ours: +oursSeconds.toFixed(2),
    baseline: +naiveSeconds.toFixed(2),
    unit: 's',
    ratio: +(naiveSeconds / oursSeconds).toFixed(2),
    note: `${opts.total.toLocaleString('en')} customers, ${opts.movers.toLocaleString('en')} crossing 90 days; naive loop timed on ${sample.length.toLocaleString('en')} and scaled`,
  };
}
