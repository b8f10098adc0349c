import mongoose from 'mongoose';
import type { Clock } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { notFound, problem, type FieldProblem } from '../../shared/problems.js';
import { markCustomerUnsubscribed } from '../customers/index.js';
import { Campaign, Delivery, deliveryId, type CampaignDoc, type DeliveryDoc, type ResponseKind } from './model.js';
import { findDelivery } from './queries.js';
import { journaled } from './stats.js';

/**
 * Records a recipient's response, once per kind: a compare-and-set on the delivery by `_id`
 * decides, so a repeated or concurrent call changes nothing. The first response of any kind
 * counts the recipient as responded; UNSUBSCRIBED also opts the customer out of later campaigns.
 */
export async function recordResponse(
  deps: { clock: Clock },
  input: { campaignId: string; customerId: string; kind: ResponseKind },
): Promise<{ delivery: DeliveryDoc; recorded: boolean } | { problems: FieldProblem[] }> {
  const campaignId = objectIdOrNull(input.campaignId);
  const campaign = campaignId && (await Campaign.findById(campaignId).lean<CampaignDoc>());
  if (!campaignId || !campaign) return notFound('campaign', ['input', 'campaignId']);
  const customerId = objectIdOrNull(input.customerId);
  const delivery = customerId && (await findDelivery(deliveryId(campaignId, customerId)));
  if (!customerId || !delivery)
    return problem(['input', 'customerId'], 'this customer was not sent this campaign', 'NOT_FOUND');
  if (delivery.status !== 'DELIVERED')
    return problem(['input', 'customerId'], 'the message to this customer was not delivered', 'INVALID_STATE');
  if (delivery.responses[input.kind]) return { delivery, recorded: false };
  const now = deps.clock.now();
  return journaled(deps, campaignId, async () => {
    const before = await Delivery.findOneAndUpdate(
      { _id: delivery._id, [`responses.${input.kind}`]: mongoose.trusted({ $exists: false }) },
      { $set: { [`responses.${input.kind}`]: now }, $min: { respondedAt: now } },
      { returnDocument: 'before' },
    ).lean<DeliveryDoc>();
    const latest = (await findDelivery(delivery._id))!;
    if (!before) return { delivery: latest, recorded: false };
    const isFirst = !before.respondedAt;
    await Campaign.updateOne(
      { _id: campaignId },
      { $inc: { [`stats.${input.kind.toLowerCase()}`]: 1, ...(isFirst ? { 'stats.responded': 1 } : {}) } },
    );
    if (input.kind === 'UNSUBSCRIBED') await markCustomerUnsubscribed(customerId, now);
    return { delivery: latest, recorded: true };
  });
}
