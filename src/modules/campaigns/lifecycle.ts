import mongoose, { Types } from 'mongoose';
import { nextSequence } from '../../db/counters.js';
import { DAY_MS } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { notFound, problem, type FieldProblem } from '../../shared/problems.js';
import type { CampaignsDeps } from './deps.js';
import { AudienceChunk, Campaign, EMPTY_STATS, type CampaignDoc, type CampaignStatus } from './model.js';
import { findCampaign } from './queries.js';
import { publishProgress } from './stats.js';
import { campaignFieldsOf, campaignInputProblems, webhookChannelProblem, type CampaignInput } from './validation.js';

export type CampaignResult = { campaign: CampaignDoc } | { problems: FieldProblem[] };

const EPOCH = new Date(0);

export async function createCampaign(
  deps: Pick<CampaignsDeps, 'clock' | 'settings'>,
  input: CampaignInput,
): Promise<CampaignResult> {
  const problems = campaignInputProblems(deps, input, true);
  if (problems.length) return { problems };
  const now = deps.clock.now();
  const seq = await nextSequence('campaigns');
  const doc: CampaignDoc = {
    _id: new Types.ObjectId(),
    code: `CM${String(seq).padStart(4, '0')}`,
    name: '',
    targetSegments: [],
    message: '',
    channel: 'OUTBOX',
    attributionWindowDays: 7,
    ...campaignFieldsOf(input),
    status: 'DRAFT',
    scheduledAt: input.scheduledAt ?? null,
    stats: { ...EMPTY_STATS },
    job: { phase: 'AUDIENCE', chunkCount: 0, nextChunk: 0, leaseOwner: null, leaseUntil: EPOCH, failures: 0 },
    createdAt: now,
    updatedAt: now,
  };
  await Campaign.collection.insertOne(doc);
  return { campaign: doc };
}

export async function updateCampaign(
  deps: Pick<CampaignsDeps, 'clock' | 'settings'>,
  id: string,
  input: CampaignInput,
): Promise<CampaignResult> {
  const _id = objectIdOrNull(id);
  if (!_id) return notFound('campaign');
  const problems = campaignInputProblems(deps, input, false);
  if (problems.length) return { problems };
  const updated = await Campaign.findOneAndUpdate(
    { _id, status: 'DRAFT' },
    { $set: { ...campaignFieldsOf(input), updatedAt: deps.clock.now() } },
    { returnDocument: 'after' },
  ).lean<CampaignDoc>();
  return updated ? { campaign: updated } : stateProblem(id, ['DRAFT'], 'updated');
}

/**
 * DRAFT → RUNNING now, or → SCHEDULED when `scheduledAt` is ahead. The send itself is the
 * runner's job (any process's): this only makes the campaign due.
 */
export async function executeCampaign(
  deps: Pick<CampaignsDeps, 'clock' | 'events' | 'settings' | 'onDue'>,
  id: string,
): Promise<CampaignResult> {
  const current = await findCampaign(id);
  if (!current) return notFound('campaign');
  if (current.channel === 'WEBHOOK' && !deps.settings.webhook)
    return problem(
      'id',
      'the WEBHOOK channel is not configured on this server (CAMPAIGN_WEBHOOK_URL)',
      'CHANNEL_UNAVAILABLE',
    );
  const channelProblem = current.channel === 'WEBHOOK' ? webhookChannelProblem(deps.settings, ['id']) : null;
  if (channelProblem) return { problems: [channelProblem] };
  const now = deps.clock.now();
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
  await publishProgress(deps, updated);
  if (!isLater) deps.onDue?.();
  return { campaign: updated };
}

/** Stops a campaign; a batch being sent finishes and its stats still count. */
export async function cancelCampaign(
  deps: Pick<CampaignsDeps, 'clock' | 'events'>,
  id: string,
): Promise<CampaignResult> {
  const current = await findCampaign(id);
  if (!current) return notFound('campaign');
  const now = deps.clock.now();
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
  await publishProgress(deps, after);
  await AudienceChunk.deleteMany({ campaignId: current._id });
  return { campaign: after };
}

/** Why a transition's compare-and-set matched nothing: the campaign is gone, or in another status. */
async function stateProblem(
  id: string,
  allowed: readonly CampaignStatus[],
  action: string,
): Promise<{ problems: FieldProblem[] }> {
  const current = await findCampaign(id);
  if (!current) return notFound('campaign');
  return problem(
    'id',
    `a ${current.status} campaign cannot be ${action} (only ${allowed.join(' or ')})`,
    'INVALID_STATE',
  );
}
