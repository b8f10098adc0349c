import mongoose, { type Types } from 'mongoose';
import { Campaign, type CampaignDoc, type CampaignStatsDoc } from './model.js';

export type { CampaignStatsDoc } from './model.js';

/**
 * The stats of one campaign, or of every campaign started in `[startedFrom, startedBefore)`:
 * what reports (the dashboard) add up. Read-only; the campaigns domain keeps them current.
 */
export async function campaignResults(
  which: { campaignId: Types.ObjectId } | { startedFrom: Date; startedBefore: Date },
): Promise<CampaignStatsDoc[]> {
  const filter =
    'campaignId' in which
      ? { _id: which.campaignId }
      : { startedAt: mongoose.trusted({ $gte: which.startedFrom, $lt: which.startedBefore }) };
  const campaigns = await Campaign.find(filter).select({ stats: 1 }).lean<Array<Pick<CampaignDoc, 'stats'>>>();
  return campaigns.map((c) => c.stats);
}
