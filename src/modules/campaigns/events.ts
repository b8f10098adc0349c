import type { CampaignStatsDoc, CampaignStatus } from './model.js';

/** The events the campaigns domain publishes, by type. */
export type CampaignEvents = { CAMPAIGN_PROGRESS: CampaignProgressPayload };

/** What a campaign progress event carries. */
export type CampaignProgressPayload = { campaignId: string; status: CampaignStatus; stats: CampaignStatsDoc };
