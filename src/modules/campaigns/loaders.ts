import DataLoader from 'dataloader';
import type { CampaignDoc } from './model.js';
import type { CampaignsService } from './service.js';

/** Per request: the campaigns named in one resolver pass, read in one query. */
export function createCampaignLoaders(campaigns: CampaignsService) {
  return {
    campaignById: new DataLoader<string, CampaignDoc | null>((ids) => campaigns.findByIds(ids), { maxBatchSize: 100 }),
  };
}
