import Mustache from 'mustache';
import { Types, type mongo } from 'mongoose';
import { Campaign, Delivery, type CampaignDoc } from '../../src/modules/campaigns/model.js';
import { Customer, type CustomerDoc } from '../../src/modules/customers/model.js';
import { localIdOf } from '../../src/shared/ids.js';
import type { Segment } from '../../src/shared/segment-policy.js';
import type { BenchContext, Scenario } from '../context.js';
import { insertCustomersWithInteractions } from './data.js';

const MESSAGE = 'We miss you, {{name}}';
/** The warm-up's audience: its own segment, so the timed runs read only theirs. */
const WARM_UP = { recipients: 1_000, segment: 'AT_RISK' as Segment };
const TARGET_SEGMENT: Segment = 'CHURNED';

/**
 * campaign: an OUTBOX campaign to every customer of a segment, end to end — from the
 * executeCampaign request to COMPLETED (the stored completedAt, same clock): the runner's
 * pick-up, the audience snapshot, rendering, the delivery records that are also the outbox, the
 * checkpoints and progress events — against the raw driver doing the same work as a competent
 * engineer would write it: read the segment's customers (the fields a message needs), render
 * each message, insert the delivery documents in batches of the campaign's size into a
 * collection with the deliveries' indexes (the same index upkeep as ours; the figure without
 * them is in `details`). Each side is warmed up on a smaller segment first, and the baseline is
 * timed only once our background work has settled.
 * The send alone (snapshot ready → COMPLETED, against the baseline's inserts) is in `details`.
 */
export async function campaignScenario(ctx: BenchContext): Promise<{ campaign: Scenario }> {
  const seeded = ctx.size({ smoke: 1_000, quick: 10_000, full: 50_000 });
  const batchSize = ctx.config.campaigns.batchSize;
  await insertCustomersWithInteractions(WARM_UP.recipients, 0, 'W', WARM_UP.segment);
  await insertCustomersWithInteractions(seeded, 0, 'M', TARGET_SEGMENT);
  await ctx.settle();

  await runCampaign(ctx, WARM_UP.segment);
  await ctx.settle();
  const ours = await runCampaign(ctx, TARGET_SEGMENT);
  await ctx.settle();
  await ctx.drained();

  const baseline = await timeRawSides(ours.recipients, batchSize);
  const recipients = ours.recipients;
  const oursRate = recipients / ours.totalSeconds;
  const baselineRate = recipients / baseline.indexed.totalSeconds;
  const oursSendRate = recipients / ours.sendSeconds;
  const baselineSendRate = recipients / baseline.indexed.insertSeconds;
  return {
    campaign: {
      ours: Math.round(oursRate),
      baseline: Math.round(baselineRate),
      unit: 'recipients/s',
      ratio: +(oursRate / baselineRate).toFixed(3),
      details: {
        oursSeconds: +ours.totalSeconds.toFixed(3),
        oursSnapshotSeconds: +ours.snapshotSeconds.toFixed(3),
        oursSendSeconds: +ours.sendSeconds.toFixed(3),
        baselineSeconds: +baseline.indexed.totalSeconds.toFixed(3),
        baselineReadSeconds: +(baseline.indexed.totalSeconds - baseline.indexed.insertSeconds).toFixed(3),
        baselineInsertSeconds: +baseline.indexed.insertSeconds.toFixed(3),
        sendOnly: Math.round(oursSendRate),
        sendOnlyBaseline: Math.round(baselineSendRate),
        sendOnlyRatio: +(oursSendRate / baselineSendRate).toFixed(3),
        baselineWithoutIndexesSeconds: +baseline.plain.totalSeconds.toFixed(3),
        ratioAgainstBaselineWithoutIndexes: +(baseline.plain.totalSeconds / ours.totalSeconds).toFixed(3),
      },
      note:
        `${recipients.toLocaleString('en')} recipients, outbox, batches of ${batchSize}: executeCampaign → COMPLETED ` +
        `${ours.totalSeconds.toFixed(2)} s (snapshot ${ours.snapshotSeconds.toFixed(2)} s, send ${ours.sendSeconds.toFixed(2)} s) ` +
        `vs raw read + insertMany ${baseline.indexed.totalSeconds.toFixed(2)} s (inserts ${baseline.indexed.insertSeconds.toFixed(2)} s; ` +
        `${baseline.plain.totalSeconds.toFixed(2)} s into a collection without indexes); ` +
        `send alone ${(oursSendRate / baselineSendRate).toFixed(2)} of the raw inserts`,
    },
  };
}

/**
 * Creates and executes a campaign to one segment; its times once COMPLETED with every customer
 * of the segment (counted before it starts) delivered.
 */
async function runCampaign(ctx: BenchContext, segment: Segment) {
  const recipients = await Customer.countDocuments({ segment, unsubscribedAt: null });
  const created = await ctx.graphql<{ createCampaign: { campaign: { id: string } } }>(
    'mutation($segment: Segment!, $message: String!) { createCampaign(input: { name: "Bench win-back", targetSegments: [$segment], message: $message }) { campaign { id } } }',
    { segment, message: MESSAGE },
  );
  const id = created.createCampaign.campaign.id;
  const localId = new Types.ObjectId(localIdOf(id, 'Campaign')!);
  const started = Date.now();
  await ctx.graphql('mutation($id: ID!) { executeCampaign(id: $id) { userErrors { code message } } }', { id });
  let done: CampaignDoc | null = null;
  for (;;) {
    done = await Campaign.findById(localId).lean<CampaignDoc>();
    if (done?.status !== 'RUNNING') break;
    await new Promise((r) => setTimeout(r, 50));
  }
  if (done?.status !== 'COMPLETED' || done.stats.delivered !== recipients)
    throw new Error(`campaign to ${recipients} ended ${done?.status} with ${JSON.stringify(done?.stats)}`);
  const readyAt = done.job.audienceReadyAt!.getTime();
  const completedAt = done.completedAt!.getTime();
  return {
    recipients,
    totalSeconds: (completedAt - started) / 1000,
    snapshotSeconds: (readyAt - started) / 1000,
    sendSeconds: (completedAt - readyAt) / 1000,
  };
}

/** The raw campaign into a collection with the deliveries' indexes, then into one without; each warmed up first. */
async function timeRawSides(recipients: number, batchSize: number) {
  const indexedDeliveries = Delivery.db.collection('bench_raw_deliveries');
  await indexedDeliveries.createIndexes([
    { key: { campaignId: 1, ordinal: 1 } },
    { key: { customerId: 1, sentAt: -1 } },
  ]);
  const plainDeliveries = Delivery.db.collection('bench_raw_deliveries_plain');
  const sides = { indexed: indexedDeliveries, plain: plainDeliveries };
  const times: Partial<Record<keyof typeof sides, { totalSeconds: number; insertSeconds: number }>> = {};
  for (const [name, raw] of Object.entries(sides) as Array<[keyof typeof sides, mongo.Collection]>) {
    await sendRaw(raw, WARM_UP.segment, batchSize);
    const side = await sendRaw(raw, TARGET_SEGMENT, batchSize);
    await raw.drop();
    if (side.count !== recipients) throw new Error(`the raw send reached ${side.count} of ${recipients}`);
    times[name] = side;
  }
  return times as Required<typeof times>;
}

/**
 * The raw driver's campaign: the segment's customers read with the fields a message needs, then
 * each message rendered and the delivery documents (the same shape as ours) inserted
 * `batchSize` at a time.
 */
async function sendRaw(raw: mongo.Collection, segment: Segment, batchSize: number) {
  const campaignId = new Types.ObjectId();
  const started = performance.now();
  const audience = await Customer.collection
    .find<Pick<CustomerDoc, '_id' | 'name' | 'email' | 'phone'>>(
      { segment: { $in: [segment] }, unsubscribedAt: null },
      { projection: { name: 1, email: 1, phone: 1 }, batchSize: 1_000 },
    )
    .toArray();
  const read = performance.now();
  const sentAt = new Date();
  for (let i = 0; i < audience.length; i += batchSize) {
    const deliveries = audience.slice(i, i + batchSize).map((c, k) => ({
      _id: `${String(campaignId)}:${String(c._id)}`,
      campaignId,
      customerId: c._id,
      ordinal: i + k,
      status: 'DELIVERED',
      attempts: 1,
      message: Mustache.render(MESSAGE, { name: c.name }),
      email: c.email ?? null,
      phone: c.phone ?? null,
      sentAt,
      responses: {},
    }));
    await raw.insertMany(deliveries as never[], { ordered: false });
  }
  const done = performance.now();
  return { count: audience.length, totalSeconds: (done - started) / 1000, insertSeconds: (done - read) / 1000 };
}
