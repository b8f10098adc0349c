import { DAY_MS } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { LeaseLost, type Sender } from './lease.js';
import { AudienceChunk, Campaign, type CampaignDoc } from './model.js';

/** After this many failed tries in a row a campaign is FAILED. */
const MAX_FAILURES = 5;

/** COMPLETED when every chunk is sent; a campaign cancelled meanwhile stays CANCELLED. */
export async function finishSending(sender: Sender, campaign: CampaignDoc): Promise<void> {
  const now = sender.clock.now();
  const release = { 'job.phase': 'DONE', 'job.leaseOwner': null, updatedAt: now };
  const completed = await Campaign.findOneAndUpdate(
    { _id: campaign._id, 'job.leaseOwner': sender.owner, status: 'RUNNING' },
    {
      $set: {
        ...release,
        status: 'COMPLETED',
        completedAt: now,
        attributionEndsAt: new Date(now.getTime() + campaign.attributionWindowDays * DAY_MS),
      },
    },
    { returnDocument: 'after' },
  ).lean<CampaignDoc>();
  const final =
    completed ??
    (await Campaign.findOneAndUpdate(
      { _id: campaign._id, 'job.leaseOwner': sender.owner },
      { $set: release },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>());
  if (!final) throw new LeaseLost();
  // The final state, with the final stats (after a cancel: what the last batch added).
  await sender.campaigns.publish(final);
  await AudienceChunk.deleteMany({ campaignId: campaign._id });
}

export async function failCampaign(sender: Sender, campaign: CampaignDoc, reason: string): Promise<void> {
  const now = sender.clock.now();
  const failed = await Campaign.findOneAndUpdate(
    { _id: campaign._id, 'job.leaseOwner': sender.owner, status: 'RUNNING' },
    {
      $set: {
        status: 'FAILED',
        failureReason: reason,
        completedAt: now,
        attributionEndsAt: new Date(now.getTime() + campaign.attributionWindowDays * DAY_MS),
        'job.phase': 'DONE',
        'job.leaseOwner': null,
        updatedAt: now,
      },
    },
    { returnDocument: 'after' },
  ).lean<CampaignDoc>();
  if (failed) {
    await sender.campaigns.publish(failed);
    await AudienceChunk.deleteMany({ campaignId: campaign._id });
  }
}

/** A try that threw: retried after a pause (the lease is shortened), FAILED after MAX_FAILURES in a row. */
export async function recordFailedTry(sender: Sender, campaign: CampaignDoc, err: unknown, log: Logger): Promise<void> {
  const reason = (err as Error).message ?? String(err);
  try {
    const after = await Campaign.findOneAndUpdate(
      { _id: campaign._id, 'job.leaseOwner': sender.owner },
      { $inc: { 'job.failures': 1 }, $set: { 'job.lastError': reason } },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    if (!after) return;
    if (after.job.failures >= MAX_FAILURES) {
      log.error({ err }, 'campaign failed too often; marking it FAILED');
      await failCampaign(sender, after, `sending failed ${MAX_FAILURES} times in a row; last error: ${reason}`);
      return;
    }
    log.warn({ err, failures: after.job.failures }, 'campaign batch failed; retrying');
    const pause = Math.min(sender.settings.leaseMs, 1_000 * 2 ** after.job.failures);
    await Campaign.updateOne(
      { _id: campaign._id, 'job.leaseOwner': sender.owner },
      { $set: { 'job.leaseUntil': new Date(sender.clock.now().getTime() + pause) } },
    );
  } catch (inner) {
    log.error({ err: inner, cause: err }, 'campaign failure could not be recorded; the lease will expire');
  }
}
