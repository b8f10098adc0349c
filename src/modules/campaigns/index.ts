import type { DomainModule } from '../../app/module.js';
import { Campaign, AudienceChunk, Delivery, Conversion } from './model.js';
import { resolvers } from './resolvers.js';

export { createCampaignsService } from './service.js';
export { createCampaignLoaders } from './loaders.js';
export { CampaignRunner } from './runner.js';

/** The campaigns domain as the composition root sees it. */
export const campaignsModule = {
  name: 'campaigns',
  indexedModels: [Campaign, AudienceChunk, Delivery, Conversion],
  resolvers,
} satisfies DomainModule;
export { campaignResults, type CampaignStatsDoc } from './results.js';
export { pendingCampaignsCount } from './queue.js';
export { adapterFor } from './adapters.js';
export { renderMessage, templateProblem } from './template.js';
export { recipientOf } from './recipient.js';
export { eraseRecipient } from './erasure.js';
