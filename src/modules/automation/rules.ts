import { Types } from 'mongoose';
import { DAY_MS, type Clock } from '../../shared/clock.js';
import { MoneyError, parseAmount } from '../../shared/money.js';
import { Customer, type CustomerDoc } from '../customers/model.js';
import type { FieldProblem } from '../../shared/problems.js';
import type { Channel, InteractionType } from '../interactions/model.js';
import type { Segment } from '../../shared/segment-policy.js';
import { templateProblem } from '../campaigns/template.js';
import { allHold, daysSinceLastInteraction, parseCondition, type ConditionInput } from './conditions.js';
import {
  ComplaintWindow,
  Rule,
  type ActionDoc,
  type ConditionDoc,
  type RuleDoc,
  type TriggerDoc,
  type TriggerType,
} from './model.js';

const MAX_ACTIONS = 10;
const MAX_DELAY_MINUTES = 525_600;
const DRY_RUN_SAMPLE = 20;

export type RuleInput = {
  name: string;
  enabled?: boolean | null;
  trigger: {
    type: TriggerType;
    fromSegments?: Segment[] | null;
    toSegments?: Segment[] | null;
    interactionTypes?: InteractionType[] | null;
    channels?: Channel[] | null;
    minAmount?: string | null;
    maxAmount?: string | null;
    inactiveDays?: number | null;
  };
  conditions?: ConditionInput[] | null;
  /** A stored action as given: delays and conditions optional, conditions not yet parsed. */
  actions: Array<
    Omit<ActionDoc, 'delayMinutes' | 'onlyIf'> & { delayMinutes?: number | null; onlyIf?: ConditionInput[] | null }
  >;
};

/**
 * A rule as given, checked field by field, in the stored form; or every problem found.
 * `webhookEndpointProblem` says why a CALL_WEBHOOK step may not name an endpoint id, or null.
 */
export function parseRule(
  input: RuleInput,
  currency: string,
  webhookEndpointProblem: (id: string) => Pick<FieldProblem, 'message' | 'code'> | null,
): { rule: Omit<RuleDoc, '_id' | 'stats' | 'createdAt' | 'updatedAt' | 'journey'> } | { problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  const invalid = (field: string[], message: string) => problems.push({ field, message, code: 'INVALID' });
  const name = input.name.trim();
  if (name.length < 1 || name.length > 200) invalid(['input', 'name'], 'name must be 1 to 200 characters');

  const t = input.trigger;
  const trigger: TriggerDoc = { type: t.type };
  const amount = (raw: string | null | undefined, field: string): number | null => {
    if (raw == null) return null;
    try {
      return parseAmount(raw, currency);
    } catch (err) {
      if (!(err instanceof MoneyError)) throw err;
      invalid(['input', 'trigger', field], err.message);
      return null;
    }
  };
  const onlyFor = (types: TriggerType[], field: keyof RuleInput['trigger']) => {
    const value = t[field];
    if (value != null && !(Array.isArray(value) && !value.length) && !types.includes(t.type))
      invalid(['input', 'trigger', field], `${field} applies to ${types.join(' and ')} only`);
  };
  onlyFor(['SEGMENT_CHANGED'], 'fromSegments');
  onlyFor(['SEGMENT_CHANGED'], 'toSegments');
  onlyFor(['INTERACTION_RECORDED'], 'interactionTypes');
  onlyFor(['INTERACTION_RECORDED', 'PURCHASE_RECORDED'], 'channels');
  onlyFor(['PURCHASE_RECORDED'], 'minAmount');
  onlyFor(['PURCHASE_RECORDED'], 'maxAmount');
  onlyFor(['INACTIVE_FOR'], 'inactiveDays');
  if (t.fromSegments?.length) trigger.fromSegments = t.fromSegments;
  if (t.toSegments?.length) trigger.toSegments = t.toSegments;
  if (t.interactionTypes?.length) trigger.interactionTypes = t.interactionTypes;
  if (t.channels?.length) trigger.channels = t.channels;
  const min = amount(t.minAmount, 'minAmount');
  const max = amount(t.maxAmount, 'maxAmount');
  if (min !== null) trigger.minAmountMinor = min;
  if (max !== null) trigger.maxAmountMinor = max;
  if (min !== null && max !== null && min > max)
    invalid(['input', 'trigger', 'maxAmount'], 'maxAmount is below minAmount');
  if (t.type === 'INACTIVE_FOR') {
    if (t.inactiveDays == null || !Number.isInteger(t.inactiveDays) || t.inactiveDays < 1 || t.inactiveDays > 3650)
      invalid(['input', 'trigger', 'inactiveDays'], 'INACTIVE_FOR needs inactiveDays, 1 to 3650');
    else trigger.inactiveDays = t.inactiveDays;
  }

  const conditionsOf = (list: ConditionInput[] | null | undefined, path: string[]): ConditionDoc[] => {
    const out: ConditionDoc[] = [];
    (list ?? []).forEach((c, i) => {
      const parsed = parseCondition(c, [...path, String(i)], currency);
      if ('problem' in parsed) problems.push(parsed.problem);
      else out.push(parsed.condition);
    });
    return out;
  };
  const conditions = conditionsOf(input.conditions, ['input', 'conditions']);

  if (!input.actions.length || input.actions.length > MAX_ACTIONS)
    invalid(['input', 'actions'], `a rule has 1 to ${MAX_ACTIONS} actions`);
  const actions: ActionDoc[] = input.actions.map((a, i) => {
    const path = ['input', 'actions', String(i)];
    const need = (field: keyof typeof a, ok: boolean, message: string) => {
      if (!ok) invalid([...path, field], message);
    };
    const delayMinutes = a.delayMinutes ?? 0;
    need(
      'delayMinutes',
      Number.isInteger(delayMinutes) && delayMinutes >= 0 && delayMinutes <= MAX_DELAY_MINUTES,
      'delayMinutes must be 0 to 525600',
    );
    const action: ActionDoc = {
      type: a.type,
      delayMinutes,
      onlyIf: conditionsOf(a.onlyIf, [...path, 'onlyIf']),
    };
    switch (a.type) {
      case 'SEND_MESSAGE': {
        const message = a.message ?? '';
        need(
          'message',
          message.trim().length > 0 && message.length <= 5_000,
          'SEND_MESSAGE needs a message of 1 to 5000 characters',
        );
        const problem = message.trim() ? templateProblem(message) : null;
        if (problem) invalid([...path, 'message'], problem);
        // The message goes on the timeline, which every role reads (ANALYST sees addresses masked).
        else if (/\{\{\s*(email|phone)\s*\}\}/.test(message))
          invalid(
            [...path, 'message'],
            'an automated message cannot include {{email}} or {{phone}}: it is shown on the timeline',
          );
        action.message = message;
        action.channel = a.channel ?? 'OUTBOX';
        break;
      }
      case 'ADD_TAG':
      case 'REMOVE_TAG': {
        const tag = a.tag?.trim().toLowerCase() ?? '';
        need('tag', tag.length > 0 && tag.length <= 50, `${a.type} needs a tag of 1 to 50 characters`);
        action.tag = tag;
        break;
      }
      case 'CREATE_TASK':
        need('department', a.department != null, 'CREATE_TASK needs a department');
        need(
          'title',
          (a.title?.trim().length ?? 0) > 0 && (a.title?.length ?? 0) <= 200,
          'CREATE_TASK needs a title of 1 to 200 characters',
        );
        need(
          'dueInDays',
          a.dueInDays == null || (Number.isInteger(a.dueInDays) && a.dueInDays >= 0 && a.dueInDays <= 365),
          'dueInDays must be 0 to 365',
        );
        action.department = a.department ?? null;
        action.title = a.title?.trim() ?? null;
        action.dueInDays = a.dueInDays ?? 3;
        break;
      case 'RAISE_ALERT':
        need(
          'title',
          (a.title?.trim().length ?? 0) > 0 && (a.title?.length ?? 0) <= 200,
          'RAISE_ALERT needs a title of 1 to 200 characters',
        );
        action.title = a.title?.trim() ?? null;
        action.severity = a.severity ?? 'WARNING';
        action.departments = a.departments?.length ? a.departments : ['SALES', 'MARKETING', 'SUPPORT'];
        break;
      case 'CALL_WEBHOOK': {
        const problem =
          a.webhookEndpointId == null
            ? { message: 'CALL_WEBHOOK needs the id of an existing webhook endpoint', code: 'INVALID' as const }
            : webhookEndpointProblem(a.webhookEndpointId);
        if (problem) problems.push({ field: [...path, 'webhookEndpointId'], ...problem });
        action.webhookEndpointId = a.webhookEndpointId ?? null;
        break;
      }
    }
    return action;
  });
  if (problems.length) return { problems };
  return { rule: { name, enabled: input.enabled ?? true, trigger, conditions, actions } };
}

/** How many complaints a customer filed in the 7 days up to `at`, from its complaint window. */
export async function complaintsInWeek(customerId: Types.ObjectId, at: Date, uptoSeq?: number): Promise<number> {
  const window = await ComplaintWindow.findById(customerId).lean();
  const from = at.getTime() - 7 * DAY_MS;
  return (window?.complaints ?? []).filter(
    (c) => c.at.getTime() > from && c.at.getTime() <= at.getTime() && (uptoSeq === undefined || c.seq <= uptoSeq),
  ).length;
}

/**
 * Which customers a rule's conditions (and an INACTIVE_FOR trigger's days) match now: one pass
 * over the customers (a scan on the embedded engine), evaluated in TypeScript like the rule
 * consumer does.
 */
export async function dryRun(
  rule: Pick<RuleDoc, 'trigger' | 'conditions'>,
  clock: Clock,
): Promise<{ matchedCount: number; sample: CustomerDoc[] }> {
  const at = clock.now();
  let matchedCount = 0;
  const sample: CustomerDoc[] = [];
  const needsComplaints = rule.conditions.some((c) => c.field === 'COMPLAINTS_LAST_7_DAYS');
  const windows = needsComplaints
    ? new Map((await ComplaintWindow.find({}).lean()).map((w) => [String(w._id), w.complaints]))
    : new Map<string, Array<{ at: Date }>>();
  for await (const customer of Customer.find({}).lean<CustomerDoc[]>().cursor({ batchSize: 1_000 })) {
    if (rule.trigger.type === 'INACTIVE_FOR' && daysSinceLastInteraction(customer, at) < rule.trigger.inactiveDays!)
      continue;
    const matches = await allHold(rule.conditions, {
      customer,
      at,
      complaintsLast7Days: async () =>
        (windows.get(String(customer._id)) ?? []).filter((c) => c.at.getTime() > at.getTime() - 7 * DAY_MS).length,
    });
    if (!matches) continue;
    matchedCount++;
    if (sample.length < DRY_RUN_SAMPLE) sample.push(customer);
  }
  return { matchedCount, sample };
}

export async function listRules(enabled?: boolean | null): Promise<RuleDoc[]> {
  const filter = enabled == null ? {} : { enabled };
  return Rule.find(filter).sort({ createdAt: 1, _id: 1 }).lean<RuleDoc[]>();
}
