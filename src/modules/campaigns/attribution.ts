import mongoose from 'mongoose';
import { isDuplicateKeyError } from '../../db/errors.js';
import { DAY_MS, type Clock } from '../../shared/clock.js';
import type { InteractionDoc } from '../interactions/model.js';
import { Campaign, Conversion, deliveryId, storedCollection, type CampaignDoc, type DeliveryDoc } from './model.js';
import { findDelivery } from './queries.js';
import { journaled } from './stats.js';

type Candidate = Pick<CampaignDoc, '_id' | 'attributionWindowDays'>;
type Purchase = InteractionDoc & { amountMinor: number };

/**
 * Attributes purchases to campaigns: each to the most recent campaign delivered to its
 * customer within that campaign's window before the purchase, at most once (the conversion's
 * `_id` is the purchase's). Campaigns whose window could hold the purchases are found with
 * one query over the (small) campaigns collection, then each candidate delivery by `_id`.
 */
export async function attributePurchases(deps: { clock: Clock }, interactions: InteractionDoc[]): Promise<number> {
  const purchases = interactions.filter((i): i is Purchase => i.type === 'PURCHASE' && !!i.amountMinor);
  if (!purchases.length) return 0;
  const times = purchases.map((p) => p.occurredAt.getTime());
  const candidates = await Campaign.find({
    status: mongoose.trusted({ $in: ['RUNNING', 'COMPLETED', 'CANCELLED', 'FAILED'] }),
    startedAt: mongoose.trusted({ $lte: new Date(Math.max(...times)) }),
    $or: [{ attributionEndsAt: null }, { attributionEndsAt: mongoose.trusted({ $gte: new Date(Math.min(...times)) }) }],
  })
    .select({ _id: 1, attributionWindowDays: 1 })
    .lean<Candidate[]>();
  if (!candidates.length) return 0;
  let attributed = 0;
  for (const purchase of purchases) {
    const source = await attributionSource(candidates, purchase);
    if (source && (await recordConversion(deps, purchase, source.campaign, source.delivery))) attributed++;
  }
  return attributed;
}

/** The campaign a purchase is owed to: the latest delivery whose window holds it. */
async function attributionSource(
  candidates: Candidate[],
  purchase: Purchase,
): Promise<{ campaign: Candidate; delivery: DeliveryDoc } | null> {
  const at = purchase.occurredAt.getTime();
  let latest: { campaign: Candidate; delivery: DeliveryDoc } | null = null;
  const deliveries = await Promise.all(
    candidates.map(async (campaign) => ({
      campaign,
      delivery: await findDelivery(deliveryId(campaign._id, purchase.customerId)),
    })),
  );
  for (const { campaign, delivery } of deliveries) {
    if (delivery?.status !== 'DELIVERED') continue;
    const sent = delivery.sentAt.getTime();
    if (sent > at || at > sent + campaign.attributionWindowDays * DAY_MS) continue;
    if (!latest || delivery.sentAt > latest.delivery.sentAt) latest = { campaign, delivery };
  }
  return latest;
}

/** Whether this call attributed the purchase (a replay or a repair finds it attributed). */
async function recordConversion(
  deps: { clock: Clock },
  purchase: Purchase,
  campaign: Candidate,
  delivery: DeliveryDoc,
): Promise<boolean> {
  return journaled(deps, campaign._id, async () => {
    try {
      await storedCollection(Conversion).insertOne({
        _id: purchase._id,
        campaignId: campaign._id,
        customerId: purchase.customerId,
        deliveryId: delivery._id,
        amountMinor: purchase.amountMinor,
        occurredAt: purchase.occurredAt,
      });
    } catch (err) {
      if (isDuplicateKeyError(err)) return false;
      throw err;
    }
    await Campaign.updateOne(
      { _id: campaign._id },
      { $inc: { 'stats.conversions': 1, 'stats.revenueMinor': purchase.amountMinor } },
    );
    return true;
  });
}
