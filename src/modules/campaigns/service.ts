import type { InteractionDoc } from '../interactions/model.js';
import { attributePurchases } from './attribution.js';
import type { CampaignsDeps } from './deps.js';
import type { CampaignProgressPayload } from './events.js';
import { cancelCampaign, createCampaign, executeCampaign, updateCampaign } from './lifecycle.js';
import type { CampaignDoc, ResponseKind } from './model.js';
import { findCampaign, findCampaigns, findDelivery, listCampaigns, listDeliveries, listOutbox } from './queries.js';
import { recordResponse } from './responses.js';
import { publishProgress, repairStats } from './stats.js';
import type { CampaignInput } from './validation.js';

export type { CampaignFilter } from './queries.js';
export type { CampaignInput } from './validation.js';

/** A campaign progress event as the schema shows it. */
export type CampaignProgressView = CampaignProgressPayload & { cursor: string };

export type CampaignsService = ReturnType<typeof createCampaignsService>;

export function createCampaignsService(deps: CampaignsDeps) {
  return {
    findById: findCampaign,
    findByIds: findCampaigns,
    findDelivery,
    listCampaigns,
    listDeliveries,
    listOutbox,
    createCampaign: (input: CampaignInput) => createCampaign(deps, input),
    updateCampaign: (id: string, input: CampaignInput) => updateCampaign(deps, id, input),
    executeCampaign: (id: string) => executeCampaign(deps, id),
    cancelCampaign: (id: string) => cancelCampaign(deps, id),
    recordResponse: (input: { campaignId: string; customerId: string; kind: ResponseKind }) =>
      recordResponse(deps, input),
    attributePurchases: (interactions: InteractionDoc[]) => attributePurchases(deps, interactions),
    repairStats: (olderThanMs?: number) => repairStats(deps, olderThanMs),
    publish: (campaign: CampaignDoc) => publishProgress(deps, campaign),
  };
}
