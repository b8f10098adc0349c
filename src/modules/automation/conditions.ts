import { DAY_MS } from '../../shared/clock.js';
import { MoneyError, parseAmount } from '../../shared/money.js';
import type { CustomerDoc } from '../customers/model.js';
import type { FieldProblem } from '../../shared/problems.js';
import { SEGMENTS } from '../../shared/segment-policy.js';
import type { ConditionDoc, ConditionField, ConditionOperator } from './model.js';

/** Which operators each field accepts: the whole condition language. */
const OPERATORS: Record<ConditionField, readonly ConditionOperator[]> = {
  SEGMENT: ['EQ', 'NE', 'IN', 'NOT_IN'],
  TAGS: ['CONTAINS', 'NOT_CONTAINS'],
  TOTAL_PURCHASES: ['EQ', 'NE', 'GT', 'GTE', 'LT', 'LTE'],
  PURCHASE_COUNT: ['EQ', 'NE', 'GT', 'GTE', 'LT', 'LTE'],
  INTERACTION_COUNT: ['EQ', 'NE', 'GT', 'GTE', 'LT', 'LTE'],
  DAYS_SINCE_LAST_INTERACTION: ['EQ', 'NE', 'GT', 'GTE', 'LT', 'LTE'],
  COMPLAINTS_LAST_7_DAYS: ['EQ', 'NE', 'GT', 'GTE', 'LT', 'LTE'],
};

export type ConditionInput = {
  field: ConditionField;
  operator: ConditionOperator;
  value?: string | null;
  values?: string[] | null;
};

/** A condition as given, checked and stored in canonical form (amounts in minor units), or its problem. */
export function parseCondition(
  input: ConditionInput,
  path: string[],
  currency: string,
): { condition: ConditionDoc } | { problem: FieldProblem } {
  const problem = (message: string): { problem: FieldProblem } => ({
    problem: { field: path, message, code: 'INVALID' },
  });
  if (!OPERATORS[input.field].includes(input.operator))
    return problem(`${input.field} takes ${OPERATORS[input.field].join(', ')}, not ${input.operator}`);
  if (input.operator === 'IN' || input.operator === 'NOT_IN') {
    const values = input.values ?? [];
    if (!values.length || values.length > 20) return problem(`${input.operator} needs 1 to 20 values`);
    const unknown = values.filter((v) => !(SEGMENTS as readonly string[]).includes(v));
    if (unknown.length) return problem(`not segments: ${unknown.join(', ')}`);
    return { condition: { field: input.field, operator: input.operator, values } };
  }
  const raw = input.value?.trim() ?? '';
  if (!raw) return problem(`${input.field} ${input.operator} needs a value`);
  switch (input.field) {
    case 'SEGMENT':
      if (!(SEGMENTS as readonly string[]).includes(raw)) return problem(`${raw} is not a segment`);
      return { condition: { field: input.field, operator: input.operator, value: raw } };
    case 'TAGS':
      if (raw.length > 50) return problem('a tag is at most 50 characters');
      return { condition: { field: input.field, operator: input.operator, value: raw.toLowerCase() } };
    case 'TOTAL_PURCHASES':
      try {
        return { condition: { field: input.field, operator: input.operator, value: parseAmount(raw, currency) } };
      } catch (err) {
        if (err instanceof MoneyError) return problem(err.message);
        throw err;
      }
    default: {
      const n = Number(raw);
      if (!Number.isInteger(n) || n < 0 || n > 1_000_000_000) return problem(`${input.field} needs a whole number`);
      return { condition: { field: input.field, operator: input.operator, value: n } };
    }
  }
}

/** What conditions are evaluated on: the customer, when, and its recent complaints. */
export type ConditionSubject = { customer: CustomerDoc; at: Date; complaintsLast7Days: () => Promise<number> };

function compare(actual: number, operator: ConditionOperator, expected: number): boolean {
  switch (operator) {
    case 'EQ':
      return actual === expected;
    case 'NE':
      return actual !== expected;
    case 'GT':
      return actual > expected;
    case 'GTE':
      return actual >= expected;
    case 'LT':
      return actual < expected;
    case 'LTE':
      return actual <= expected;
    default:
      return false;
  }
}

export function daysSinceLastInteraction(customer: CustomerDoc, at: Date): number {
  const last = customer.lastInteractionAt ?? customer.joinedAt;
  return Math.floor((at.getTime() - last.getTime()) / DAY_MS);
}

export async function holds(condition: ConditionDoc, subject: ConditionSubject): Promise<boolean> {
  const { customer } = subject;
  switch (condition.field) {
    case 'SEGMENT':
      if (condition.operator === 'IN') return condition.values!.includes(customer.segment);
      if (condition.operator === 'NOT_IN') return !condition.values!.includes(customer.segment);
      return condition.operator === 'EQ' ? customer.segment === condition.value : customer.segment !== condition.value;
    case 'TAGS': {
      const has = customer.tags.includes(String(condition.value));
      return condition.operator === 'CONTAINS' ? has : !has;
    }
    case 'TOTAL_PURCHASES':
      return compare(customer.totalPurchasesMinor, condition.operator, Number(condition.value));
    case 'PURCHASE_COUNT':
      return compare(customer.purchaseCount, condition.operator, Number(condition.value));
    case 'INTERACTION_COUNT':
      return compare(customer.interactionCount, condition.operator, Number(condition.value));
    case 'DAYS_SINCE_LAST_INTERACTION':
      return compare(daysSinceLastInteraction(customer, subject.at), condition.operator, Number(condition.value));
    case 'COMPLAINTS_LAST_7_DAYS':
      return compare(await subject.complaintsLast7Days(), condition.operator, Number(condition.value));
  }
}

export async function allHold(conditions: ConditionDoc[], subject: ConditionSubject): Promise<boolean> {
  for (const c of conditions) if (!(await holds(c, subject))) return false;
  return true;
}
