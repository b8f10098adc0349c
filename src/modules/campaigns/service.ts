import mongoose, { Types } from 'mongoose';
import type { Config } from '../../config.js';
import { nextSequence } from '../../db/counters.js';
import { isDuplicateKeyError } from '../../db/errors.js';
import { emptyPage, keysetPage, newestFirstPage, type Page } from '../../db/pagination.js';
import { DAY_MS, type Clock } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import { refusedUrlProblem } from '../../shared/outbound-http.js';
import { Customer } from '../customers/model.js';
import type { FieldProblem } from '../../shared/problems.js';
import type { EventLog } from '../../events/log.js';
import type { InteractionDoc } from '../interactions/model.js';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';
import {
  AudienceChunk,
  Campaign,
  Conversion,
  Delivery,
  deliveryId,
  EMPTY_STATS,
  RESPONSE_KINDS,
  StatsRepair,
  type CampaignChannel,
  type CampaignDoc,
  type CampaignStatus,
  type DeliveryDoc,
  type ResponseKind,
} from './model.js';
import { templateProblem } from './template.js';
import type { CampaignProgressPayload } from './events.js';

/** A stats journal entry older than this belongs to a writer that died. */
const STALE_REPAIR_MS = 60_000;
const EPOCH = new Date(0);

/** A campaign progress event as the schema shows it. */
export type CampaignProgressView = CampaignProgressPayload & { cursor: string };

export type CampaignInput = {
  name?: string | null;
  targetSegments?: Segment[] | null;
  message?: string | null;
  channel?: CampaignChannel | null;
  scheduledAt?: Date | null;
  attributionWindowDays?: number | null;
};

export type CampaignFilter = {
  statuses?: CampaignStatus[] | null;
  channels?: CampaignChannel[] | null;
  segments?: Segment[] | null;
};

type CampaignResult = { campaign: CampaignDoc } | { problems: FieldProblem[] };

const notFound = (field: string, message: string): { problems: FieldProblem[] } => ({
  problems: [{ field: field.split('.'), message, code: 'NOT_FOUND' }],
});

export type CampaignsService = ReturnType<typeof createCampaignsService>;

export function createCampaignsService(deps: {
  clock: Clock;
  logger: Logger;
  events: EventLog;
  settings: Config['campaigns'];
  /** Called when a campaign becomes due, so this process's runner starts it at once. */
  onDue?: () => void;
}) {
  const { clock, events } = deps;

  /** The WEBHOOK channel's provider URL is an address outbound requests may not reach. */
  function webhookChannelProblem(field: string[]): FieldProblem | null {
    const webhook = deps.settings.webhook;
    const refused = webhook && refusedUrlProblem(webhook.url, webhook.outbound);
    return refused
      ? { field, message: `the WEBHOOK channel's provider (CAMPAIGN_WEBHOOK_URL) is ${refused}`, code: 'FORBIDDEN' }
      : null;
  }

  function validate(input: CampaignInput, isCreate: boolean): FieldProblem[] {
    const problems: FieldProblem[] = [];
    const invalid = (field: string, message: string) =>
      problems.push({ field: ['input', field], message, code: 'INVALID' });
    if (input.name != null || isCreate) {
      const name = input.name?.trim() ?? '';
      if (name.length < 1 || name.length > 200) invalid('name', 'name must be 1 to 200 characters');
    }
    if (input.targetSegments != null || isCreate) {
      const segments = input.targetSegments ?? [];
      if (!segments.length) invalid('targetSegments', 'choose at least one target segment');
    }
    if (input.message != null || isCreate) {
      const message = input.message ?? '';
      if (message.trim().length < 1 || message.length > 5_000)
        invalid('message', 'message must be 1 to 5000 characters');
      else {
        const problem = templateProblem(message);
        if (problem) invalid('message', problem);
      }
    }
    const channelProblem = input.channel === 'WEBHOOK' ? webhookChannelProblem(['input', 'channel']) : null;
    if (channelProblem) problems.push(channelProblem);
    if (input.scheduledAt != null && input.scheduledAt.getTime() <= clock.now().getTime())
      invalid('scheduledAt', 'scheduledAt must be in the future');
    if (input.attributionWindowDays != null) {
      const days = input.attributionWindowDays;
      if (!Number.isInteger(days) || days < 1 || days > 90)
        invalid('attributionWindowDays', 'attributionWindowDays must be 1 to 90');
    }
    return problems;
  }

  function fieldsOf(input: CampaignInput): Partial<CampaignDoc> {
    const fields: Partial<CampaignDoc> = {};
    if (input.name != null) fields.name = input.name.trim();
    if (input.targetSegments != null) fields.targetSegments = SEGMENTS.filter((s) => input.targetSegments!.includes(s)); // canonical order, no repeats
    if (input.message != null) fields.message = input.message;
    if (input.channel != null) fields.channel = input.channel;
    if (input.scheduledAt !== undefined) fields.scheduledAt = input.scheduledAt;
    if (input.attributionWindowDays != null) fields.attributionWindowDays = input.attributionWindowDays;
    return fields;
  }

  async function publish(campaign: CampaignDoc): Promise<void> {
    await events.append('CAMPAIGN_PROGRESS', {
      campaignId: String(campaign._id),
      status: campaign.status,
      stats: campaign.stats,
    } satisfies CampaignProgressPayload);
  }

  async function findById(id: string): Promise<CampaignDoc | null> {
    const _id = objectIdOrNull(id);
    return _id ? Campaign.findById(_id).lean<CampaignDoc>() : null;
  }

  async function findByIds(ids: readonly string[]): Promise<Array<CampaignDoc | null>> {
    return Promise.all(ids.map(findById));
  }

  async function createCampaign(input: CampaignInput): Promise<CampaignResult> {
    const problems = validate(input, true);
    if (problems.length) return { problems };
    const now = clock.now();
    const seq = await nextSequence('campaigns');
    const doc: CampaignDoc = {
      _id: new Types.ObjectId(),
      code: `CM${String(seq).padStart(4, '0')}`,
      name: '',
      targetSegments: [],
      message: '',
      channel: 'OUTBOX',
      attributionWindowDays: 7,
      ...fieldsOf(input),
      status: 'DRAFT',
      scheduledAt: input.scheduledAt ?? null,
      stats: { ...EMPTY_STATS },
      job: { phase: 'AUDIENCE', chunkCount: 0, nextChunk: 0, leaseOwner: null, leaseUntil: EPOCH, failures: 0 },
      createdAt: now,
      updatedAt: now,
    };
    await Campaign.collection.insertOne(doc as never);
    return { campaign: doc };
  }

  /** The campaign, or the problem: NOT_FOUND, or NOT_DRAFT-style state errors. */
  async function stateProblem(
    id: string,
    allowed: readonly CampaignStatus[],
    action: string,
  ): Promise<{ problems: FieldProblem[] }> {
    const current = await findById(id);
    if (!current) return notFound('id', 'no campaign has this id');
    return {
      problems: [
        {
          field: ['id'],
          message: `a ${current.status} campaign cannot be ${action} (only ${allowed.join(' or ')})`,
          code: 'INVALID_STATE',
        },
      ],
    };
  }

  async function updateCampaign(id: string, input: CampaignInput): Promise<CampaignResult> {
    const _id = objectIdOrNull(id);
    if (!_id) return notFound('id', 'no campaign has this id');
    const problems = validate(input, false);
    if (problems.length) return { problems };
    const updated = await Campaign.findOneAndUpdate(
      { _id, status: 'DRAFT' },
      { $set: { ...fieldsOf(input), updatedAt: clock.now() } },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    return updated ? { campaign: updated } : stateProblem(id, ['DRAFT'], 'updated');
  }

  /**
   * DRAFT → RUNNING now, or → SCHEDULED when `scheduledAt` is ahead. The send itself is the
   * runner's job (any process's): this only makes the campaign due.
   */
  async function executeCampaign(id: string): Promise<CampaignResult> {
    const current = await findById(id);
    if (!current) return notFound('id', 'no campaign has this id');
    if (current.channel === 'WEBHOOK' && !deps.settings.webhook) {
      return {
        problems: [
          {
            field: ['id'],
            message: 'the WEBHOOK channel is not configured on this server (CAMPAIGN_WEBHOOK_URL)',
            code: 'CHANNEL_UNAVAILABLE',
          },
        ],
      };
    }
    const channelProblem = current.channel === 'WEBHOOK' ? webhookChannelProblem(['id']) : null;
    if (channelProblem) return { problems: [channelProblem] };
    const now = clock.now();
    const isLater = current.scheduledAt != null && current.scheduledAt.getTime() > now.getTime();
    const updated = await Campaign.findOneAndUpdate(
      { _id: current._id, status: 'DRAFT' },
      {
        $set: isLater
          ? { status: 'SCHEDULED', updatedAt: now }
          : { status: 'RUNNING', startedAt: now, updatedAt: now, 'job.leaseUntil': EPOCH },
      },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    if (!updated) return stateProblem(id, ['DRAFT'], 'executed');
    await publish(updated);
    if (!isLater) deps.onDue?.();
    return { campaign: updated };
  }

  /** Stops a campaign; a batch being sent finishes and its stats still count. */
  async function cancelCampaign(id: string): Promise<CampaignResult> {
    const current = await findById(id);
    if (!current) return notFound('id', 'no campaign has this id');
    const now = clock.now();
    const after = await Campaign.findOneAndUpdate(
      { _id: current._id, status: mongoose.trusted({ $in: ['DRAFT', 'SCHEDULED', 'RUNNING'] }) },
      {
        $set: {
          status: 'CANCELLED',
          completedAt: now,
          // What was delivered before the cancel keeps its attribution window.
          attributionEndsAt: new Date(now.getTime() + current.attributionWindowDays * DAY_MS),
          updatedAt: now,
        },
      },
      { returnDocument: 'after' },
    ).lean<CampaignDoc>();
    if (!after) return stateProblem(id, ['DRAFT', 'SCHEDULED', 'RUNNING'], 'cancelled');
    await publish(after);
    await AudienceChunk.deleteMany({ campaignId: current._id });
    return { campaign: after };
  }

  async function listCampaigns(args: {
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
  async function listDeliveries(
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
      totalCount: async () =>
        args.status === 'DELIVERED' ? s.delivered : args.status === 'FAILED' ? s.failed : s.sent,
    });
  }

  /** The OUTBOX channel's messages of a campaign: its deliveries, in send order. */
  async function listOutbox(
    campaignId: string,
    args: { first: number; after?: string | null },
  ): Promise<Page<DeliveryDoc> | null> {
    const campaign = await findById(campaignId);
    if (!campaign || campaign.channel !== 'OUTBOX') return emptyPage();
    return listDeliveries(campaign, { first: args.first, after: args.after });
  }

  async function findDelivery(id: string): Promise<DeliveryDoc | null> {
    return Delivery.findById(id).lean<DeliveryDoc>();
  }

  /**
   * Moves a campaign's counters after an effect recorded elsewhere (a response on a delivery,
   * a conversion). The journal entry around it names the campaign should the process die
   * between the two writes; `repairStats` then recomputes those counters.
   */
  async function journaled<T>(campaignId: Types.ObjectId, work: () => Promise<T>): Promise<T> {
    const entryId = new Types.ObjectId().toHexString();
    await StatsRepair.collection.insertOne({ _id: entryId, campaignId, startedAt: clock.now() } as never);
    const result = await work();
    await StatsRepair.deleteOne({ _id: entryId });
    return result;
  }

  /**
   * Records a recipient's response, once per kind: a compare-and-set on the delivery by `_id`
   * decides, so a repeated or concurrent call changes nothing. The first response of any kind
   * counts the recipient as responded; UNSUBSCRIBED also opts the customer out of later campaigns.
   */
  async function recordResponse(input: {
    campaignId: string;
    customerId: string;
    kind: ResponseKind;
  }): Promise<{ delivery: DeliveryDoc; recorded: boolean } | { problems: FieldProblem[] }> {
    const campaignId = objectIdOrNull(input.campaignId);
    const campaign = campaignId && (await Campaign.findById(campaignId).lean<CampaignDoc>());
    if (!campaignId || !campaign) return notFound('input.campaignId', 'no campaign has this id');
    const customerId = objectIdOrNull(input.customerId);
    const id = customerId && deliveryId(campaignId, customerId);
    const delivery = id && (await findDelivery(id));
    if (!customerId || !delivery)
      return {
        problems: [
          { field: ['input', 'customerId'], message: 'this customer was not sent this campaign', code: 'NOT_FOUND' },
        ],
      };
    if (delivery.status !== 'DELIVERED')
      return {
        problems: [
          {
            field: ['input', 'customerId'],
            message: 'the message to this customer was not delivered',
            code: 'INVALID_STATE',
          },
        ],
      };
    if (delivery.responses[input.kind]) return { delivery, recorded: false };
    const now = clock.now();
    return journaled(campaignId, async () => {
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
      if (input.kind === 'UNSUBSCRIBED')
        await Customer.updateOne({ _id: customerId, unsubscribedAt: null }, { $set: { unsubscribedAt: now } });
      return { delivery: latest, recorded: true };
    });
  }

  /**
   * Attributes purchases to campaigns: each to the most recent campaign delivered to its
   * customer within that campaign's window before the purchase, at most once (the conversion's
   * `_id` is the purchase's). Campaigns whose window could hold the purchases are found with
   * one query over the (small) campaigns collection, then each candidate delivery by `_id`.
   */
  async function attributePurchases(interactions: InteractionDoc[]): Promise<number> {
    const purchases = interactions.filter((i) => i.type === 'PURCHASE' && i.amountMinor);
    if (!purchases.length) return 0;
    const times = purchases.map((p) => p.occurredAt.getTime());
    const earliest = new Date(Math.min(...times));
    const latest = new Date(Math.max(...times));
    const candidates = await Campaign.find({
      status: mongoose.trusted({ $in: ['RUNNING', 'COMPLETED', 'CANCELLED', 'FAILED'] }),
      startedAt: mongoose.trusted({ $lte: latest }),
      $or: [{ attributionEndsAt: null }, { attributionEndsAt: mongoose.trusted({ $gte: earliest }) }],
    })
      .select({ _id: 1, attributionWindowDays: 1 })
      .lean<Array<Pick<CampaignDoc, '_id' | 'attributionWindowDays'>>>();
    if (!candidates.length) return 0;
    let attributed = 0;
    for (const p of purchases) {
      const deliveries = await Promise.all(
        candidates.map(async (c) => ({ c, d: await findDelivery(deliveryId(c._id, p.customerId)) })),
      );
      const at = p.occurredAt.getTime();
      const eligible = deliveries.filter(
        ({ c, d }) =>
          d?.status === 'DELIVERED' &&
          d.sentAt.getTime() <= at &&
          at <= d.sentAt.getTime() + c.attributionWindowDays * DAY_MS,
      );
      if (!eligible.length) continue;
      const { c, d } = eligible.reduce((a, b) => (b.d!.sentAt > a.d!.sentAt ? b : a));
      const isNew = await journaled(c._id, async () => {
        try {
          await Conversion.collection.insertOne({
            _id: p._id,
            campaignId: c._id,
            customerId: p.customerId,
            deliveryId: d!._id,
            amountMinor: p.amountMinor!,
            occurredAt: p.occurredAt,
          } as never);
        } catch (err) {
          if (isDuplicateKeyError(err)) return false; // attributed before (a replay or a repair)
          throw err;
        }
        await Campaign.updateOne(
          { _id: c._id },
          { $inc: { 'stats.conversions': 1, 'stats.revenueMinor': p.amountMinor! } },
        );
        return true;
      });
      if (isNew) attributed++;
    }
    return attributed;
  }

  /**
   * Recomputes the response and conversion counters of campaigns named by journal entries a
   * crashed writer left (idempotent: `$set` from the deliveries and conversions).
   */
  async function repairStats(olderThanMs = STALE_REPAIR_MS): Promise<number> {
    const cutoff = new Date(clock.now().getTime() - olderThanMs);
    const stale = await StatsRepair.find({ startedAt: mongoose.trusted({ $lte: cutoff }) }).lean();
    if (!stale.length) return 0;
    const campaignIds = [...new Set(stale.map((s) => String(s.campaignId)))].map((id) => new Types.ObjectId(id));
    const repaired = new Set<string>();
    for (const campaignId of campaignIds) {
      // A live writer's entry is newer: its increment could land between our read and write.
      // That campaign is repaired on a later run, once no writer is in flight.
      if (await StatsRepair.exists({ campaignId, startedAt: mongoose.trusted({ $gt: cutoff }) })) continue;
      repaired.add(String(campaignId));
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
    const done = stale.filter((s) => repaired.has(String(s.campaignId)));
    if (done.length) await StatsRepair.deleteMany({ _id: mongoose.trusted({ $in: done.map((s) => s._id) }) });
    deps.logger.warn({ campaigns: repaired.size }, 'recomputed campaign counters left by a crashed writer');
    return repaired.size;
  }

  return {
    findById,
    findByIds,
    findDelivery,
    createCampaign,
    updateCampaign,
    executeCampaign,
    cancelCampaign,
    listCampaigns,
    listDeliveries,
    listOutbox,
    recordResponse,
    attributePurchases,
    repairStats,
    publish,
  };
}
