import type { Types } from 'mongoose';
import type { EventPayloads } from '../../events/map.js';
import type { EventDoc } from '../../events/model.js';
import { toGlobalId } from '../../shared/ids.js';
import { toMoney, type Money } from '../../shared/money.js';
import type { CampaignProgressPayload } from '../campaigns/events.js';
import { findCustomer } from '../customers/index.js';
import type { InteractionRecordedPayload } from '../interactions/events.js';
import type { WebhookEventType } from './model.js';

/*
 * One contract for every payload a subscriber receives (docs/webhooks/*.schema.json): ids are
 * global ids, customers are named by global id and code, field names are the GraphQL schema's,
 * dates are ISO 8601 strings, money is a `Money` ({ amount: decimal string, currency }), and an
 * absent value is null rather than a missing key. Ids and facts only, never e-mail addresses or
 * phone numbers: a receiver that needs them asks the API, where access is controlled.
 */

export type CustomerRef = { id: string; code: string };

/** A customer as the events carry it. */
type CustomerDoc = InteractionRecordedPayload['customer'];
type TaskDoc = EventPayloads['TASK_CREATED']['task'];
type AlertDoc = EventPayloads['ALERT_RAISED']['alert'];

/** What a delivery's body is: the event type as `crm.<type>`, when it happened, and its data. */
export function webhookBody(type: WebhookEventType, at: Date, data: Record<string, unknown>) {
  return { type: `crm.${type.toLowerCase()}`, timestamp: iso(at), data };
}

const iso = (date: Date | string) => new Date(date).toISOString();
const isoOrNull = (date: Date | string | null | undefined) => (date == null ? null : iso(date));

const customerRef = (c: Pick<CustomerDoc, '_id' | 'code'>): CustomerRef => ({
  id: toGlobalId('Customer', String(c._id)),
  code: c.code,
});
const ruleRef = (ruleId: Types.ObjectId | string | null | undefined) =>
  ruleId ? { id: toGlobalId('AutomationRule', String(ruleId)) } : null;

/**
 * Tasks and alerts carry only their customer's id; the code comes from the customer document
 * (never deleted: an erased customer keeps its code).
 */
async function customerRefById(customerId: Types.ObjectId | string | null | undefined): Promise<CustomerRef | null> {
  if (!customerId) return null;
  const customer = await findCustomer(customerId);
  return customer ? customerRef(customer) : null;
}

const rate = (part: number, whole: number) => (whole > 0 ? part / whole : 0);

function campaignProgressData(p: CampaignProgressPayload, currency: string) {
  const { revenueMinor, ...counts } = p.stats;
  return {
    campaign: { id: toGlobalId('Campaign', p.campaignId) },
    status: p.status,
    stats: {
      ...counts,
      responseRate: rate(counts.responded, counts.delivered),
      conversionRate: rate(counts.conversions, counts.delivered),
      revenue: toMoney(revenueMinor, currency),
    },
  };
}

function interactionRecordedData({ interaction: i, customer }: InteractionRecordedPayload, currency: string) {
  const amount: Money | null = i.amountMinor != null ? toMoney(i.amountMinor, i.currency ?? currency) : null;
  return {
    customer: customerRef(customer),
    interaction: {
      id: toGlobalId('Interaction', i._id),
      type: i.type,
      channel: i.channel,
      occurredAt: iso(i.occurredAt),
      amount,
    },
  };
}

async function taskCreatedData(task: TaskDoc) {
  return {
    task: {
      id: toGlobalId('Task', task._id),
      title: task.title,
      department: task.department,
      status: task.status,
      dueAt: isoOrNull(task.dueAt),
      createdAt: iso(task.createdAt),
    },
    customer: await customerRefById(task.customerId),
    assignee: task.assigneeId ? { id: toGlobalId('User', String(task.assigneeId)) } : null,
    rule: ruleRef(task.ruleId),
  };
}

async function alertRaisedData(alert: AlertDoc) {
  return {
    alert: {
      id: toGlobalId('Alert', alert._id),
      title: alert.title,
      severity: alert.severity,
      departments: alert.departments,
      kind: alert.kind,
      raisedAt: iso(alert.raisedAt),
    },
    customer: await customerRefById(alert.customerId),
    rule: ruleRef(alert.ruleId),
  };
}

/** The data of an event-log event a subscriber receives, or null for events not sent. */
export async function eventData(event: EventDoc, currency: string): Promise<Record<string, unknown> | null> {
  switch (event.type) {
    case 'SEGMENT_CHANGED': {
      const p = event.payload;
      return {
        customer: customerRef(p.customer),
        from: p.from ?? null,
        to: p.to,
        reason: p.reason,
        changedAt: iso(p.changedAt),
      };
    }
    case 'INTERACTION_RECORDED':
      return interactionRecordedData(event.payload, currency);
    case 'CAMPAIGN_PROGRESS':
      return campaignProgressData(event.payload, currency);
    case 'TASK_CREATED':
      return taskCreatedData(event.payload.task);
    case 'ALERT_RAISED':
      return alertRaisedData(event.payload.alert);
    default:
      return null;
  }
}

/** The data of a CALL_WEBHOOK step: the rule, the customer it ran for, and the event behind it. */
export function automationActionData(
  rule: { _id: Types.ObjectId; name: string },
  customer: Pick<CustomerDoc, '_id' | 'code' | 'segment'>,
  cause: { type: string; at: Date },
) {
  return {
    rule: { id: toGlobalId('AutomationRule', String(rule._id)), name: rule.name },
    customer: { ...customerRef(customer), segment: customer.segment },
    cause: { type: cause.type, at: iso(cause.at) },
  };
}
