import mongoose from 'mongoose';
import { emptyPage, keysetPage, newestFirstPage, type Page } from '../../db/pagination.js';
import { objectIdOrNull } from '../../shared/ids.js';
import type { Segment } from '../../shared/segment-policy.js';
import {
  Campaign,
  Delivery,
  type CampaignChannel,
  type CampaignDoc,
  type CampaignStatus,
  type DeliveryDoc,
} from './model.js';

export type CampaignFilter = {
  statuses?: CampaignStatus[] | null;
  channels?: CampaignChannel[] | null;
  segments?: Segment[] | null;
};

export async function findCampaign(id: string): Promise<CampaignDoc | null> {
  const _id = objectIdOrNull(id);
  return _id ? Campaign.findById(_id).lean<CampaignDoc>() : null;
}

export async function findCampaigns(ids: readonly string[]): Promise<Array<CampaignDoc | null>> {
  return Promise.all(ids.map(findCampaign));
}

export async function findDelivery(id: string): Promise<DeliveryDoc | null> {
  return Delivery.findById(id).lean<DeliveryDoc>();
}

export async function listCampaigns(args: {
  filter?: CampaignFilter | null;
  first: number;
  after?: string | null;
}): Promise<Page<CampaignDoc> | null> {
  const f = args.filter ?? {};
  const filter: Record<string, unknown> = {};
  if (f.statuses?.length) filter.status = mongoose.trusted({ $in: f.statuses });
  if (f.channels?.length) filter.channel = mongoose.trusted({ $in: f.channels });
  if (f.segments?.length) filter.targetSegments = mongoose.trusted({ $in: f.segments });
  return newestFirstPage(Campaign, filter, args, { path: 'createdAt', idKind: 'objectId' });
}

/** Deliveries in send order; the count comes from the stored stats. */
export async function listDeliveries(
  campaign: CampaignDoc,
  args: { status?: DeliveryDoc['status'] | null; first: number; after?: string | null },
): Promise<Page<DeliveryDoc> | null> {
  if (!campaign.startedAt) return emptyPage();
  const filter: Record<string, unknown> = {
    campaignId: campaign._id,
    ...(args.status ? { status: args.status } : {}),
  };
  const s = campaign.stats;
  return keysetPage({
    model: Delivery,
    filter,
    keyset: { path: 'ordinal', direction: 1, kind: 'number', idKind: 'string' },
    first: args.first,
    after: args.after,
    totalCount: async () => (args.status === 'DELIVERED' ? s.delivered : args.status === 'FAILED' ? s.failed : s.sent),
  });
}

/** The OUTBOX channel's messages of a campaign: its deliveries, in send order. */
export async function listOutbox(
  campaignId: string,
  args: { first: number; after?: string | null },
): Promise<Page<DeliveryDoc> | null> {
  const campaign = await findCampaign(campaignId);
  if (!campaign || campaign.channel !== 'OUTBOX') return emptyPage();
  return listDeliveries(campaign, { first: args.first, after: args.after });
}
