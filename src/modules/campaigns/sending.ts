import pMap from 'p-map';
import { duplicateIndexesOf } from '../../db/errors.js';
import type { ChannelAdapter, OutgoingMessage, SendOutcome } from './adapters.js';
import { leaseEnd, LeaseLost, type Sender } from './lease.js';
import {
  AudienceChunk,
  audienceChunkId,
  Campaign,
  decodeRecipients,
  Delivery,
  deliveryId,
  storedCollection,
  type AudienceChunkDoc,
  type CampaignDoc,
  type DeliveryDoc,
} from './model.js';
import { renderMessage } from './template.js';

/**
 * Sends the campaign's next chunk and checkpoints it; returns the campaign after the checkpoint.
 * `prefetched` is the chunk read ahead (undefined when that read failed: it is read again).
 */
export async function sendChunk(
  sender: Sender,
  campaign: CampaignDoc,
  prefetched: AudienceChunkDoc | null | undefined,
  adapter: ChannelAdapter,
  isTakeover: boolean,
): Promise<CampaignDoc> {
  const k = campaign.job.nextChunk;
  const chunk =
    prefetched === undefined
      ? await AudienceChunk.findById(audienceChunkId(campaign._id, k)).lean<AudienceChunkDoc>()
      : prefetched;
  if (!chunk) {
    // Cancelled meanwhile (a cancel removes the snapshot), or the snapshot is damaged.
    const now = await Campaign.findById(campaign._id).lean<CampaignDoc>();
    if (now && now.status !== 'RUNNING') return now;
    throw new Error(`audience chunk ${k} of ${campaign.code} is missing`);
  }
  const size = campaign.job.chunkSize ?? sender.settings.batchSize;
  const messages = decodeRecipients(chunk.recipients).map((recipient, i): OutgoingMessage => ({
    deliveryId: deliveryId(campaign._id, recipient.customerId),
    ordinal: k * size + i,
    campaign: { id: String(campaign._id), code: campaign.code, name: campaign.name },
    recipient,
    body: renderMessage(campaign.message, recipient),
  }));
  // A chunk this runner takes over may have been partly recorded by the runner before it.
  const recorded = isTakeover ? await recordedDeliveries(messages) : new Map<string, DeliveryDoc>();
  const toSend = messages.filter((m) => !recorded.has(m.deliveryId));
  const outcomes = await adapter.send(toSend);
  const docs = await recordDeliveries(sender, campaign, toSend, outcomes);
  const all = [...recorded.values(), ...docs];
  const delivered = all.filter((d) => d.status === 'DELIVERED').length;
  const updated = await Campaign.findOneAndUpdate(
    { _id: campaign._id, 'job.leaseOwner': sender.owner, 'job.nextChunk': k },
    {
      $inc: {
        'stats.sent': all.length,
        'stats.delivered': delivered,
        'stats.failed': all.length - delivered,
        'job.nextChunk': 1,
      },
      $set: { 'job.leaseUntil': leaseEnd(sender), 'job.failures': 0, updatedAt: sender.clock.now() },
    },
    { returnDocument: 'after' },
  ).lean<CampaignDoc>();
  if (!updated) throw new LeaseLost();
  return updated;
}

async function recordedDeliveries(messages: OutgoingMessage[]): Promise<Map<string, DeliveryDoc>> {
  const found = await pMap(messages, (m) => Delivery.findById(m.deliveryId).lean<DeliveryDoc>(), { concurrency: 16 });
  const recorded = new Map<string, DeliveryDoc>();
  for (const d of found) if (d) recorded.set(d._id, d);
  return recorded;
}

/** Writes each message's delivery once, in its final state; returns the deliveries as stored. */
async function recordDeliveries(
  sender: Sender,
  campaign: CampaignDoc,
  sent: OutgoingMessage[],
  outcomes: SendOutcome[],
): Promise<DeliveryDoc[]> {
  const sentAt = sender.clock.now();
  const docs: DeliveryDoc[] = sent.map((m, i) => ({
    _id: m.deliveryId,
    campaignId: campaign._id,
    customerId: m.recipient.customerId,
    ordinal: m.ordinal,
    status: outcomes[i]!.status,
    attempts: outcomes[i]!.attempts,
    ...(outcomes[i]!.error ? { error: outcomes[i]!.error } : {}),
    message: m.body,
    email: m.recipient.email ?? null,
    phone: m.recipient.phone ?? null,
    sentAt,
    responses: {},
  }));
  if (!docs.length) return docs;
  try {
    await storedCollection(Delivery).insertMany(docs, { ordered: false });
  } catch (err) {
    const duplicates = duplicateIndexesOf(err);
    if (!duplicates) throw err;
    // Recorded by someone else meanwhile (a runner whose lease we took): theirs stands.
    for (const i of duplicates) {
      const theirs = await Delivery.findById(docs[i]!._id).lean<DeliveryDoc>();
      if (theirs) docs[i] = theirs;
    }
  }
  return docs;
}
