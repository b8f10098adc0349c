import { MoneyError, parseAmount } from '../../shared/money.js';
import type { FieldProblem } from '../../shared/problems.js';
import type { Segment } from '../../shared/segment-policy.js';
import type { Channel, InteractionType } from '../interactions/model.js';
import { templateProblem } from '../campaigns/index.js';
import { parseCondition, type ConditionInput } from './conditions.js';
import type { ActionDoc, ConditionDoc, RuleDoc, TriggerDoc, TriggerType } from './model.js';

const MAX_ACTIONS = 10;
const MAX_DELAY_MINUTES = 525_600;

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

type Parsed = Omit<RuleDoc, '_id' | 'stats' | 'createdAt' | 'updatedAt' | 'journey'>;

/** Why a CALL_WEBHOOK step may not name this endpoint id, or null when it may. */
export type EndpointProblem = (id: string) => Pick<FieldProblem, 'message' | 'code'> | null;

/** What parsing reads and where it writes the problems it finds, in the order it finds them. */
type Parsing = { currency: string; endpointProblem: EndpointProblem; problems: FieldProblem[] };

const invalid = (p: Parsing, field: string[], message: string) => p.problems.push({ field, message, code: 'INVALID' });

/** A rule as given, checked field by field, in the stored form; or every problem found. */
export function parseRule(
  input: RuleInput,
  currency: string,
  endpointProblem: EndpointProblem,
): { rule: Parsed } | { problems: FieldProblem[] } {
  const p: Parsing = { currency, endpointProblem, problems: [] };
  const name = input.name.trim();
  if (name.length < 1 || name.length > 200) invalid(p, ['input', 'name'], 'name must be 1 to 200 characters');
  const trigger = parseTrigger(p, input.trigger);
  const conditions = parseConditions(p, input.conditions, ['input', 'conditions']);
  if (!input.actions.length || input.actions.length > MAX_ACTIONS)
    invalid(p, ['input', 'actions'], `a rule has 1 to ${MAX_ACTIONS} actions`);
  const actions = input.actions.map((a, i) => parseAction(p, a, ['input', 'actions', String(i)]));
  if (p.problems.length) return { problems: p.problems };
  return { rule: { name, enabled: input.enabled ?? true, trigger, conditions, actions } };
}

function parseTrigger(p: Parsing, t: RuleInput['trigger']): TriggerDoc {
  const trigger: TriggerDoc = { type: t.type };
  const amount = (raw: string | null | undefined, field: string): number | null => {
    if (raw == null) return null;
    try {
      return parseAmount(raw, p.currency);
    } catch (err) {
      if (!(err instanceof MoneyError)) throw err;
      invalid(p, ['input', 'trigger', field], err.message);
      return null;
    }
  };
  const onlyFor = (types: TriggerType[], field: keyof RuleInput['trigger']) => {
    const value = t[field];
    if (value != null && !(Array.isArray(value) && !value.length) && !types.includes(t.type))
      invalid(p, ['input', 'trigger', field], `${field} applies to ${types.join(' and ')} only`);
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
    invalid(p, ['input', 'trigger', 'maxAmount'], 'maxAmount is below minAmount');
  if (t.type === 'INACTIVE_FOR') {
    if (t.inactiveDays == null || !Number.isInteger(t.inactiveDays) || t.inactiveDays < 1 || t.inactiveDays > 3650)
      invalid(p, ['input', 'trigger', 'inactiveDays'], 'INACTIVE_FOR needs inactiveDays, 1 to 3650');
    else trigger.inactiveDays = t.inactiveDays;
  }
  return trigger;
}

function parseConditions(p: Parsing, list: ConditionInput[] | null | undefined, path: string[]): ConditionDoc[] {
  const out: ConditionDoc[] = [];
  (list ?? []).forEach((c, i) => {
    const parsed = parseCondition(c, [...path, String(i)], p.currency);
    if ('problem' in parsed) p.problems.push(parsed.problem);
    else out.push(parsed.condition);
  });
  return out;
}

function parseAction(p: Parsing, a: RuleInput['actions'][number], path: string[]): ActionDoc {
  const need = (field: keyof typeof a, ok: boolean, message: string) => {
    if (!ok) invalid(p, [...path, field], message);
  };
  const delayMinutes = a.delayMinutes ?? 0;
  need(
    'delayMinutes',
    Number.isInteger(delayMinutes) && delayMinutes >= 0 && delayMinutes <= MAX_DELAY_MINUTES,
    'delayMinutes must be 0 to 525600',
  );
  const action: ActionDoc = { type: a.type, delayMinutes, onlyIf: parseConditions(p, a.onlyIf, [...path, 'onlyIf']) };
  const hasTitle = (a.title?.trim().length ?? 0) > 0 && (a.title?.length ?? 0) <= 200;
  switch (a.type) {
    case 'SEND_MESSAGE': {
      const message = a.message ?? '';
      need(
        'message',
        message.trim().length > 0 && message.length <= 5_000,
        'SEND_MESSAGE needs a message of 1 to 5000 characters',
      );
      const problem = message.trim() ? templateProblem(message) : null;
      if (problem) invalid(p, [...path, 'message'], problem);
      // The message goes on the timeline, which every role reads (ANALYST sees addresses masked).
      else if (/\{\{\s*(email|phone)\s*\}\}/.test(message))
        invalid(
          p,
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
      need('title', hasTitle, 'CREATE_TASK needs a title of 1 to 200 characters');
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
      need('title', hasTitle, 'RAISE_ALERT needs a title of 1 to 200 characters');
      action.title = a.title?.trim() ?? null;
      action.severity = a.severity ?? 'WARNING';
      action.departments = a.departments?.length ? a.departments : ['SALES', 'MARKETING', 'SUPPORT'];
      break;
    case 'CALL_WEBHOOK': {
      const problem =
        a.webhookEndpointId == null
          ? { message: 'CALL_WEBHOOK needs the id of an existing webhook endpoint', code: 'INVALID' as const }
          : p.endpointProblem(a.webhookEndpointId);
      if (problem) p.problems.push({ field: [...path, 'webhookEndpointId'], ...problem });
      action.webhookEndpointId = a.webhookEndpointId ?? null;
      break;
    }
  }
  return action;
}
