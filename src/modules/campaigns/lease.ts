import mongoose, { type Types } from 'mongoose';
import type { Config } from '../../config.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { Campaign, type CampaignDoc } from './model.js';
import type { CampaignsService } from './service.js';

/** What a campaign runner is wired with. */
export type RunnerDeps = {
  clock: Clock;
  logger: Logger;
  campaigns: Pick<CampaignsService, 'publish'>;
  settings: Config['campaigns'];
};

/** A runner as the sending steps see it: its wiring, and the owner name its leases carry. */
export type Sender = RunnerDeps & { owner: string };

/** Another runner holds the campaign now: this one stops sending it. */
export class LeaseLost extends Error {
  override name = 'LeaseLost';
}

export function leaseEnd(sender: Sender): Date {
  return new Date(sender.clock.now().getTime() + sender.settings.leaseMs);
}

/** Takes the lease of one due campaign: a scheduled one whose time came, or one whose sender stopped. */
export async function claimDueCampaign(sender: Sender): Promise<CampaignDoc | null> {
  const now = sender.clock.now();
  const lease = { 'job.leaseOwner': sender.owner, 'job.leaseUntil': leaseEnd(sender) };
  const scheduled = await Campaign.findOneAndUpdate(
    { status: 'SCHEDULED', scheduledAt: mongoose.trusted({ $lte: now }) },
    { $set: { status: 'RUNNING', startedAt: now, updatedAt: now, ...lease } },
    { returnDocument: 'after' },
  ).lean<CampaignDoc>();
  if (scheduled) {
    await sender.campaigns.publish(scheduled);
    return scheduled;
  }
  return Campaign.findOneAndUpdate(
    { status: 'RUNNING', 'job.leaseUntil': mongoose.trusted({ $lt: now }) },
    { $set: lease },
    { returnDocument: 'after' },
  ).lean<CampaignDoc>();
}

/**
 * Renews the lease while the campaign is sent, every third of the lease; `isLost()` turns true
 * once another runner holds it.
 */
export function keepLease(
  sender: Sender,
  campaignId: Types.ObjectId,
  log: Logger,
): { isLost: () => boolean; stopRenewing: () => void } {
  let isLost = false;
  const heartbeat = setInterval(
    () => {
      Campaign.updateOne(
        { _id: campaignId, 'job.leaseOwner': sender.owner },
        { $set: { 'job.leaseUntil': leaseEnd(sender) } },
      )
        .then((r) => {
          if (r.matchedCount === 0) isLost = true;
        })
        .catch((err: unknown) => log.warn({ err }, 'campaign lease renewal failed'));
    },
    Math.max(100, Math.floor(sender.settings.leaseMs / 3)),
  );
  return { isLost: () => isLost, stopRenewing: () => clearInterval(heartbeat) };
}

/** Lets any runner take the campaign at once instead of when the lease expires (this one is shutting down). */
export async function handOver(sender: Sender, campaignId: Types.ObjectId): Promise<void> {
  await Campaign.updateOne(
    { _id: campaignId, 'job.leaseOwner': sender.owner },
    { $set: { 'job.leaseUntil': new Date(0) } },
  );
}
