import mongoose, { Types } from 'mongoose';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { EventLog } from '../../events/log.js';
import {
  Campaign,
  Conversion,
  Delivery,
  RESPONSE_KINDS,
  StatsRepair,
  storedCollection,
  type CampaignDoc,
  type DeliveryDoc,
} from './model.js';

/** A stats journal entry older than this belongs to a writer that died. */
const STALE_REPAIR_MS = 60_000;

/** Tells subscribers where a campaign stands: its status and its stats as stored. */
export async function publishProgress(deps: { events: EventLog }, campaign: CampaignDoc): Promise<void> {
  await deps.events.append('CAMPAIGN_PROGRESS', {
    campaignId: String(campaign._id),
    status: campaign.status,
    stats: campaign.stats,
  });
}

/**
 * Moves a campaign's counters after an effect recorded elsewhere (a response on a delivery,
 * a conversion). The journal entry around it names the campaign should the process die
 * between the two writes; `repairStats` then recomputes those counters.
 */
export async function journaled<T>(
  deps: { clock: Clock },
  campaignId: Types.ObjectId,
  work: () => Promise<T>,
): Promise<T> {
  const entryId = new Types.ObjectId().toHexString();
  await storedCollection(StatsRepair).insertOne({ _id: entryId, campaignId, startedAt: deps.clock.now() });
  const result = await work();
  await StatsRepair.deleteOne({ _id: entryId });
  return result;
}

/**
 * Recomputes the response and conversion counters of campaigns named by journal entries a
 * crashed writer left (idempotent: `$set` from the deliveries and conversions).
 */
export async function repairStats(
  deps: { clock: Clock; logger: Logger },
  olderThanMs = STALE_REPAIR_MS,
): Promise<number> {
  const cutoff = new Date(deps.clock.now().getTime() - olderThanMs);
  const stale = await StatsRepair.find({ startedAt: mongoose.trusted({ $lte: cutoff }) }).lean();
  if (!stale.length) return 0;
  const campaignIds = [...new Map(stale.map((s) => [String(s.campaignId), s.campaignId])).values()];
  const repaired = new Set<string>();
  for (const campaignId of campaignIds) {
    // A live writer's entry is newer: its increment could land between our read and write.
    // That campaign is repaired on a later run, once no writer is in flight.
    if (await StatsRepair.exists({ campaignId, startedAt: mongoose.trusted({ $gt: cutoff }) })) continue;
    repaired.add(String(campaignId));
    await recountResponsesAndConversions(campaignId);
  }
  const done = stale.filter((s) => repaired.has(String(s.campaignId)));
  if (done.length) await StatsRepair.deleteMany({ _id: mongoose.trusted({ $in: done.map((s) => s._id) }) });
  deps.logger.warn({ campaigns: repaired.size }, 'recomputed campaign counters left by a crashed writer');
  return repaired.size;
}

async function recountResponsesAndConversions(campaignId: Types.ObjectId): Promise<void> {
  const responded = await Delivery.find({ campaignId, respondedAt: mongoose.trusted({ $ne: null }) })
    .select({ responses: 1 })
    .lean<Array<Pick<DeliveryDoc, 'responses'>>>();
  const conversions = await Conversion.find({ campaignId }).select({ amountMinor: 1 }).lean();
  const perKind = Object.fromEntries(
    RESPONSE_KINDS.map((k) => [`stats.${k.toLowerCase()}`, responded.filter((d) => d.responses[k]).length]),
  );
  await Campaign.updateOne(
    { _id: campaignId },
    {
      $set: {
        ...perKind,
        'stats.responded': responded.length,
        'stats.conversions': conversions.length,
        'stats.revenueMinor': conversions.reduce((sum, c) => sum + c.amountMinor, 0),
      },
    },
  );
}
