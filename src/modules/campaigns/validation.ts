import type { Config } from '../../config.js';
import type { Clock } from '../../shared/clock.js';
import { refusedUrlProblem } from '../../shared/outbound-http.js';
import type { FieldProblem } from '../../shared/problems.js';
import { SEGMENTS, type Segment } from '../../shared/segment-policy.js';
import type { CampaignChannel, CampaignDoc } from './model.js';
import { templateProblem } from './template.js';

export type CampaignInput = {
  name?: string | null;
  targetSegments?: Segment[] | null;
  message?: string | null;
  channel?: CampaignChannel | null;
  scheduledAt?: Date | null;
  attributionWindowDays?: number | null;
};

/** The WEBHOOK channel's provider URL is an address outbound requests may not reach. */
export function webhookChannelProblem(settings: Config['campaigns'], field: string[]): FieldProblem | null {
  const webhook = settings.webhook;
  const refused = webhook && refusedUrlProblem(webhook.url, webhook.outbound);
  return refused
    ? { field, message: `the WEBHOOK channel's provider (CAMPAIGN_WEBHOOK_URL) is ${refused}`, code: 'FORBIDDEN' }
    : null;
}

/** The problems of a create (every field required) or an update (only the fields given). */
export function campaignInputProblems(
  deps: { clock: Clock; settings: Config['campaigns'] },
  input: CampaignInput,
  isCreate: boolean,
): FieldProblem[] {
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
    if (message.trim().length < 1 || message.length > 5_000) invalid('message', 'message must be 1 to 5000 characters');
    else {
      const problem = templateProblem(message);
      if (problem) invalid('message', problem);
    }
  }
  const channelProblem =
    input.channel === 'WEBHOOK' ? webhookChannelProblem(deps.settings, ['input', 'channel']) : null;
  if (channelProblem) problems.push(channelProblem);
  if (input.scheduledAt != null && input.scheduledAt.getTime() <= deps.clock.now().getTime())
    invalid('scheduledAt', 'scheduledAt must be in the future');
  if (input.attributionWindowDays != null) {
    const days = input.attributionWindowDays;
    if (!Number.isInteger(days) || days < 1 || days > 90)
      invalid('attributionWindowDays', 'attributionWindowDays must be 1 to 90');
  }
  return problems;
}

/** The stored fields an input sets. */
export function campaignFieldsOf(input: CampaignInput): Partial<CampaignDoc> {
  const fields: Partial<CampaignDoc> = {};
  if (input.name != null) fields.name = input.name.trim();
  const segments = input.targetSegments;
  if (segments != null) fields.targetSegments = SEGMENTS.filter((s) => segments.includes(s)); // canonical order, no repeats
  if (input.message != null) fields.message = input.message;
  if (input.channel != null) fields.channel = input.channel;
  if (input.scheduledAt !== undefined) fields.scheduledAt = input.scheduledAt;
  if (input.attributionWindowDays != null) fields.attributionWindowDays = input.attributionWindowDays;
  return fields;
}
