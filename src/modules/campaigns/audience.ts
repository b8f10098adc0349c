import { streamCustomers, trustedFilterValue } from '../customers/index.js';
import { leaseEnd, LeaseLost, type Sender } from './lease.js';
import {
  AudienceChunk,
  audienceChunkId,
  Campaign,
  encodeRecipients,
  storedCollection,
  type AudienceChunkDoc,
  type CampaignDoc,
  type RecipientDoc,
} from './model.js';
import { RECIPIENT_FIELDS, recipientOf } from './recipient.js';

/** How many chunks of the audience snapshot are written per insert. */
const CHUNKS_PER_INSERT = 10;

/**
 * The audience at start: customers in the target segments (and not unsubscribed), read in one
 * pass and stored in numbered chunks. A snapshot interrupted by a crash is started over.
 */
export async function snapshotAudience(sender: Sender, campaign: CampaignDoc): Promise<CampaignDoc> {
  await AudienceChunk.deleteMany({ campaignId: campaign._id });
  const size = sender.settings.batchSize;
  const writer = chunkWriter(campaign);
  let total = 0;
  let recipients: RecipientDoc[] = [];
  const audience = streamCustomers(
    { segment: trustedFilterValue({ $in: campaign.targetSegments }), unsubscribedAt: null },
    { batchSize: 1_000, select: RECIPIENT_FIELDS },
  );
  for await (const customer of audience) {
    recipients.push(recipientOf(customer));
    total++;
    if (recipients.length >= size) {
      await writer.add(recipients);
      recipients = [];
    }
  }
  if (recipients.length) await writer.add(recipients);
  const chunkCount = await writer.close();
  const now = sender.clock.now();
  const updated = await Campaign.findOneAndUpdate(
    { _id: campaign._id, 'job.leaseOwner': sender.owner, 'job.phase': 'AUDIENCE' },
    {
      $set: {
        'job.phase': 'SENDING',
        'job.audienceReadyAt': now,
        'job.chunkCount': chunkCount,
        'job.chunkSize': size,
        'job.nextChunk': 0,
        'job.leaseUntil': leaseEnd(sender),
        'stats.targeted': total,
        updatedAt: now,
      },
    },
    { returnDocument: 'after' },
  ).lean<CampaignDoc>();
  if (!updated) throw new LeaseLost();
  if (updated.status === 'RUNNING') await sender.campaigns.publish(updated);
  return updated;
}

/**
 * Numbers the chunks of a snapshot and writes them CHUNKS_PER_INSERT at a time, with one
 * insert in flight while the scan goes on: the scan and the writes overlap.
 */
function chunkWriter(campaign: CampaignDoc) {
  let chunk = 0;
  let pending: AudienceChunkDoc[] = [];
  let inFlight: Promise<unknown> = Promise.resolve();
  const flush = async () => {
    await inFlight;
    const batch = pending;
    pending = [];
    if (!batch.length) return;
    const insert = storedCollection(AudienceChunk).insertMany(batch);
    insert.catch(() => {}); // awaited (and its error thrown) at the next flush
    inFlight = insert;
  };
  return {
    async add(recipients: RecipientDoc[]): Promise<void> {
      pending.push({
        _id: audienceChunkId(campaign._id, chunk),
        campaignId: campaign._id,
        chunk,
        recipients: encodeRecipients(recipients),
      });
      chunk++;
      if (pending.length >= CHUNKS_PER_INSERT) await flush();
    },
    /** Writes what is left; resolves to the number of chunks. */
    async close(): Promise<number> {
      await flush();
      await inFlight;
      return chunk;
    },
  };
}

/** A chunk of the snapshot, or null past the last one; never rejects (undefined: the read failed, to be retried). */
export function readChunk(campaign: CampaignDoc, k: number): Promise<AudienceChunkDoc | null | undefined> {
  if (k >= campaign.job.chunkCount) return Promise.resolve(null);
  return AudienceChunk.findById(audienceChunkId(campaign._id, k))
    .lean<AudienceChunkDoc>()
    .then(
      (c) => c,
      () => undefined,
    );
}
