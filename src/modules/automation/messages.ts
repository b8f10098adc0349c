import mongoose from 'mongoose';
import { isDuplicateKeyError } from '../../db/errors.js';
import { adapterFor, recipientOf, renderMessage } from '../campaigns/index.js';
import type { CustomerDoc } from '../customers/model.js';
import type { Automation } from './deps.js';
import { HOUR_MS } from './hours.js';
import { MessageCap, storedCollection, type JobDoc, type MessageCapDoc } from './model.js';
import type { DueStep } from './steps.js';

/**
 * A SEND_MESSAGE step: the message through its channel, then on the customer's timeline.
 * 'skipped' when the customer opted out or the frequency cap says no. Every effect is keyed by
 * the job's id (the delivery id, the interaction's externalId), so a retried step sends once.
 */
export async function sendMessage(
  deps: Pick<Automation, 'logger' | 'settings' | 'campaignWebhook' | 'interactions'>,
  { job, rule, action, customer }: DueStep,
  now: Date,
): Promise<'executed' | 'skipped'> {
  if (customer.unsubscribedAt) return 'skipped'; // opted out of messages
  const adapter = adapterFor(action.channel ?? 'OUTBOX', { webhook: deps.campaignWebhook, logger: deps.logger });
  if (!adapter) throw new Error(`the ${action.channel} channel is not configured on this server`);
  if (!(await claimMessageCap(deps.settings, job, customer, now))) return 'skipped';
  const recipient = recipientOf(customer);
  const body = renderMessage(action.message!, recipient);
  const [outcome] = await adapter.send([
    {
      deliveryId: `auto:${job._id}`,
      ordinal: 0,
      campaign: { id: String(rule._id), code: 'AUTOMATION', name: rule.name },
      recipient,
      body,
    },
  ]);
  if (outcome?.status !== 'DELIVERED') throw new Error(outcome?.error ?? 'the message was not delivered');
  // On the timeline (the outbox's record of it), once: the externalId is the step's id.
  const recorded = await deps.interactions.recordInteraction({
    customerId: String(customer._id),
    type: 'MARKETING',
    channel: action.channel === 'WEBHOOK' ? 'SMS' : 'EMAIL',
    description: body.slice(0, 2_000),
    externalId: `auto:${job._id}`,
    causedBy: job.cause.causedBy ?? null,
  });
  if ('problems' in recorded) throw new Error(recorded.problems.map((p) => p.message).join('; '));
  return 'executed';
}

/**
 * The frequency cap: one automated message per customer per window, decided by a
 * compare-and-set on the customer's cap document; a retried step keeps its claim. False when
 * another message holds the window.
 */
async function claimMessageCap(
  settings: Automation['settings'],
  job: JobDoc,
  customer: CustomerDoc,
  now: Date,
): Promise<boolean> {
  const capFrom = new Date(now.getTime() - settings.messageCapHours * HOUR_MS);
  const before = await MessageCap.findOneAndUpdate(
    { _id: customer._id, $or: [{ lastSentAt: mongoose.trusted({ $lte: capFrom }) }, { jobId: job._id }] },
    { $set: { lastSentAt: now, jobId: job._id } },
    { returnDocument: 'before' },
  ).lean();
  if (before && before.jobId !== job._id)
    // What to give back if this message finally fails.
    await MessageCap.updateOne({ _id: customer._id, jobId: job._id }, { $set: { previousSentAt: before.lastSentAt } });
  if (before) return true;
  try {
    await storedCollection<MessageCapDoc>(MessageCap).insertOne({
      _id: customer._id,
      lastSentAt: now,
      jobId: job._id,
      previousSentAt: new Date(0),
    });
    return true;
  } catch (err) {
    if (isDuplicateKeyError(err)) return false;
    throw err;
  }
}

/** A message given up: the customer's message allowance goes back to what it was before it. */
export async function releaseMessageCap(job: JobDoc): Promise<void> {
  const cap = await MessageCap.findOne({ _id: job.customerId, jobId: job._id }).lean();
  if (cap)
    await MessageCap.updateOne(
      { _id: job.customerId, jobId: job._id },
      { $set: { lastSentAt: cap.previousSentAt ?? new Date(0), jobId: '' } },
    );
}
