import type { Types } from 'mongoose';
import { Customer } from '../../src/modules/customers/model.js';
import { Interaction, type InteractionDoc } from '../../src/modules/interactions/model.js';
import { toGlobalId } from '../../src/shared/ids.js';
import type { BenchContext, Scenario } from '../context.js';
import { insertCustomersWithInteractions } from './data.js';

export const INGEST_BATCH = 500;
export const INGEST_CUSTOMERS = 5_000;
export const INGEST_MUTATION =
  'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount } }';

/**
 * The item at position `n` of a stream: mostly purchases, inquiries and support; a complaint in
 * ten (the complaint-escalation journey evaluates each); one purchase in fifty is large enough
 * to make its customer VIP (the VIP-welcome journey then creates a task and tags them).
 */
function itemAt(n: number, run: string) {
  const kind = n % 10;
  const type = kind === 9 ? 'COMPLAINT' : kind % 3 === 0 ? 'PURCHASE' : kind % 3 === 1 ? 'INQUIRY' : 'SUPPORT';
  const amountMinor = type !== 'PURCHASE' ? undefined : n % 50 === 0 ? 1_000_000 : 12_000;
  return { type, amountMinor, externalId: `bench-${run}-${n}` } as const;
}

/** Batch `b` of a run: INGEST_BATCH items, each for the next customer of `customers` in turn. */
function itemsOf(customers: Types.ObjectId[], run: string, b: number) {
  return Array.from({ length: INGEST_BATCH }, (_, i) => {
    const n = b * INGEST_BATCH + i;
    return { customerId: customers[n % customers.length]!, ...itemAt(n, run) };
  });
}

/** Batch `b` of a run as `recordInteractions` inputs (INGEST_MUTATION's `$inputs`). */
export function apiInputsOf(customers: Types.ObjectId[], run: string, b: number) {
  return itemsOf(customers, run, b).map((item) => ({
    customerId: toGlobalId('Customer', String(item.customerId)),
    type: item.type,
    channel: 'WEB',
    ...(item.amountMinor !== undefined ? { amount: String(item.amountMinor) } : {}),
    externalId: item.externalId,
  }));
}

/** Sends `batches` recordInteractions calls one after another; seconds until the last is acknowledged. */
async function recordThroughApi(ctx: BenchContext, customers: Types.ObjectId[], run: string, batches: number) {
  const started = performance.now();
  for (let b = 0; b < batches; b++) {
    const inputs = apiInputsOf(customers, run, b);
    const data = await ctx.graphql<{ recordInteractions: { recordedCount: number } }>(INGEST_MUTATION, { inputs });
    if (data.recordInteractions.recordedCount !== INGEST_BATCH)
      throw new Error(`ingest batch ${b}: ${data.recordInteractions.recordedCount} of ${INGEST_BATCH} recorded`);
  }
  return (performance.now() - started) / 1000;
}

/**
 * The raw driver's ingest of the same interaction documents, as a competent engineer writes it:
 * one insertMany per batch, then one unordered bulkWrite moving each customer's counters and
 * last activity. Seconds for all the batches.
 */
async function recordRaw(ctx: BenchContext, customers: Types.ObjectId[], run: string, batches: number) {
  const currency = ctx.config.currency;
  const started = performance.now();
  for (let b = 0; b < batches; b++) {
    const now = new Date();
    const items = itemsOf(customers, run, b);
    const docs: InteractionDoc[] = items.map((item) => ({
      _id: `x:${item.externalId}`,
      customerId: item.customerId,
      type: item.type,
      channel: 'WEB',
      occurredAt: now,
      recordedAt: now,
      ...(item.amountMinor !== undefined ? { amountMinor: item.amountMinor, currency } : {}),
      externalId: item.externalId,
    }));
    await Interaction.collection.insertMany(docs as never[]);
    await Customer.collection.bulkWrite(
      items.map((item) => ({
        updateOne: {
          filter: { _id: item.customerId },
          update: {
            $inc: {
              interactionCount: 1,
              ...(item.amountMinor !== undefined ? { purchaseCount: 1, totalPurchasesMinor: item.amountMinor } : {}),
            },
            $max: { lastInteractionAt: now },
            $set: { updatedAt: now },
          },
        },
      })),
      { ordered: false },
    );
  }
  return (performance.now() - started) / 1000;
}

/**
 * ingest: recordInteractions in batches of 500 over 5,000 distinct customers (each batch meets
 * customers this process has not seen yet), with whatever the API runs behind an interaction —
 * the journal, segments, campaign attribution, the event and the consumers reading it, the
 * default journeys. Ours is interactions acknowledged per second; end to end also waits until
 * every consumer has handled them and the work they started is done. The baseline is the raw
 * driver's insertMany and counters bulkWrite, on 5,000 other customers, timed once our
 * background work has settled. Each side first records one batch on customers of its own.
 */
export async function ingestScenario(ctx: BenchContext): Promise<{ ingest: Scenario }> {
  const batches = ctx.size({ smoke: 2, quick: 10, full: 20 });
  const oursWarmUp = await insertCustomersWithInteractions(INGEST_BATCH, 0, 'IW');
  const ours = await insertCustomersWithInteractions(INGEST_CUSTOMERS, 0, 'IO');
  const rawWarmUp = await insertCustomersWithInteractions(INGEST_BATCH, 0, 'JW');
  const raw = await insertCustomersWithInteractions(INGEST_CUSTOMERS, 0, 'JR');
  await ctx.settle();

  await recordThroughApi(ctx, oursWarmUp, 'warm', 1);
  await ctx.settle();
  await ctx.drained();
  const oursSeconds = await recordThroughApi(ctx, ours, 'ours', batches);
  const settleStarted = performance.now();
  await ctx.settle();
  const settleSeconds = (performance.now() - settleStarted) / 1000;

  await recordRaw(ctx, rawWarmUp, 'raw-warm', 1);
  const rawSeconds = await recordRaw(ctx, raw, 'raw', batches);

  const count = batches * INGEST_BATCH;
  const oursRate = count / oursSeconds;
  const endToEndRate = count / (oursSeconds + settleSeconds);
  const rawRate = count / rawSeconds;
  return {
    ingest: {
      ours: Math.round(oursRate),
      baseline: Math.round(rawRate),
      unit: 'interactions/s',
      ratio: +(oursRate / rawRate).toFixed(3),
      details: {
        oursSeconds: +oursSeconds.toFixed(3),
        settleSeconds: +settleSeconds.toFixed(3),
        endToEnd: Math.round(endToEndRate),
        endToEndRatio: +(endToEndRate / rawRate).toFixed(3),
        baselineSeconds: +rawSeconds.toFixed(3),
      },
      note:
        `${batches} batches of ${INGEST_BATCH} over ${INGEST_CUSTOMERS.toLocaleString('en')} distinct customers, default journeys on: ` +
        `acknowledged in ${oursSeconds.toFixed(2)} s, consumers and journeys done ${settleSeconds.toFixed(2)} s later ` +
        `(end to end ${(endToEndRate / rawRate).toFixed(2)} of raw); raw insertMany + bulkWrite ${rawSeconds.toFixed(2)} s`,
    },
  };
}
