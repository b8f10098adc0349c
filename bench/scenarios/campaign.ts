import { Types } from 'mongoose';
import { Campaign, Delivery, type CampaignDoc } from '../../src/modules/campaigns/model.js';
import { insertCustomersWithInteractions } from './data.js';

type Graphql = <T>(query: string, variables?: Record<string, unknown>) => Promise<T>;

/**
 * campaign: an OUTBOX campaign to `recipients` customers. Ours is the send — from the audience
 * snapshot being ready to COMPLETED (reading the snapshot, rendering, the delivery records that
 * are also the outbox, the checkpoints), timed by the campaign's own stored times — against the
 * raw driver inserting the same delivery documents with insertMany in batches of the same size.
 * The snapshot (one scan of the customers) is reported beside it, and end to end.
 */
export async function campaignScenario(graphql: Graphql, recipients: number, batchSize: number) {
  await insertCustomersWithInteractions(recipients, 0, 'M', 'CHURNED');
  const created = await graphql<{ createCampaign: { campaign: { id: string } } }>(
    'mutation { createCampaign(input: { name: "Bench win-back", targetSegments: [CHURNED], message: "We miss you, {{name}}" }) { campaign { id } } }',
  );
  const id = created.createCampaign.campaign.id;
  await graphql('mutation($id: ID!) { executeCampaign(id: $id) { userErrors { code message } } }', { id });
  const localId = new Types.ObjectId(Buffer.from(id, 'base64url').toString().split(':')[1]);
  let done: CampaignDoc | null = null;
  for (;;) {
    done = await Campaign.findById(localId).lean<CampaignDoc>();
    if (done?.status !== 'RUNNING') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (done?.status !== 'COMPLETED' || done.stats.delivered !== recipients)
    throw new Error(`campaign ended ${done?.status} with ${JSON.stringify(done?.stats)}`);
  const sendSeconds = (done.completedAt!.getTime() - done.job.audienceReadyAt!.getTime()) / 1000;
  const snapshotSeconds = (done.job.audienceReadyAt!.getTime() - done.startedAt!.getTime()) / 1000;

  const docs = await Delivery.find({ campaignId: localId }).lean();
  const raw = Delivery.db.collection('bench_raw_deliveries');
  const started = performance.now();
  for (let i = 0; i < docs.length; i += batchSize)
    await raw.insertMany(docs.slice(i, i + batchSize) as never[], { ordered: false });
  const rawSeconds = (performance.now() - started) / 1000;
  await raw.drop();

  const ours = recipients / sendSeconds;
  const baseline = recipients / rawSeconds;
  const endToEnd = recipients / (snapshotSeconds + sendSeconds);
  return {
    ours: Math.round(ours),
    baseline: Math.round(baseline),
    unit: 'deliveries/s',
    ratio: +(ours / baseline).toFixed(3),
    endToEnd: Math.round(endToEnd),
    endToEndRatio: +(endToEnd / baseline).toFixed(3),
    note:
      `${recipients.toLocaleString('en')} recipients, outbox, batches of ${batchSize}: send ${sendSeconds.toFixed(2)} s vs raw ` +
      `insertMany ${rawSeconds.toFixed(2)} s; audience snapshot (one scan of the customers) ${snapshotSeconds.toFixed(2)} s ` +
      `before it, so ${Math.round(endToEnd)} deliveries/s end to end (${(endToEnd / baseline).toFixed(2)} of raw)`,
  };
}
