import { Types } from 'mongoose';
import type { Causation } from '../automation/model.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { MoneyError, parseAmount } from '../../shared/money.js';
import { notFound, type FieldProblem } from '../../shared/problems.js';
import type { Channel, InteractionDoc, InteractionType } from './model.js';

/** Interactions may be dated this far ahead of our clock (devices' clocks drift). */
const CLOCK_SKEW_MS = 5 * 60_000;

export type RecordInteractionInput = {
  customerId: string;
  type: InteractionType;
  channel: Channel;
  description?: string | null;
  occurredAt?: Date | null;
  amount?: string | null;
  currency?: string | null;
  externalId?: string | null;
  /** Set by automation for what its rules record (not part of the API): lets loops be stopped. */
  causedBy?: Causation | null;
};

/**
 * The `_id` an interaction is stored under: derived from the caller's externalId when there is
 * one, so a replay is refused by the unique `_id` and found again by it.
 */
export function interactionIdFor(externalId: string | null | undefined): string {
  return externalId != null ? `x:${externalId}` : `i:${new Types.ObjectId().toHexString()}`;
}

/**
 * An input checked and normalised into the interaction to store, or what is wrong with it
 * (field paths under `path`). The customer is only checked to be an id here: whether it lives
 * is the write path's question.
 */
export function interactionFrom(
  input: RecordInteractionInput,
  path: string[],
  context: { now: Date; currency: string },
): { interaction: InteractionDoc } | { problems: FieldProblem[] } {
  const { now, currency } = context;
  const problems: FieldProblem[] = [];
  const invalid = (field: string, message: string) =>
    problems.push({ field: [...path, field], message, code: 'INVALID' });
  const occurredAt = input.occurredAt ?? now;
  if (occurredAt.getTime() > now.getTime() + CLOCK_SKEW_MS)
    invalid('occurredAt', 'occurredAt must not be in the future');
  if (input.description != null && input.description.length > 2_000)
    invalid('description', 'description must be at most 2000 characters');
  if (input.externalId != null && (input.externalId.length < 1 || input.externalId.length > 200))
    invalid('externalId', 'externalId must be 1 to 200 characters');
  if (input.currency != null && input.currency !== currency) {
    invalid('currency', `only ${currency} is accepted (the deployment currency); got ${input.currency}`);
  }
  let amountMinor: number | undefined;
  if (input.type === 'PURCHASE') {
    if (input.amount == null) invalid('amount', 'a PURCHASE needs an amount');
    else {
      try {
        amountMinor = parseAmount(input.amount, currency);
        if (amountMinor <= 0) invalid('amount', 'amount must be greater than zero');
      } catch (err) {
        if (!(err instanceof MoneyError)) throw err;
        invalid('amount', err.message);
      }
    }
  } else if (input.amount != null) {
    invalid('amount', 'only a PURCHASE has an amount');
  }
  if (problems.length) return { problems };
  const customerId = objectIdOrNull(input.customerId);
  if (!customerId) return customerNotFound(path);
  return {
    interaction: {
      _id: interactionIdFor(input.externalId),
      customerId,
      type: input.type,
      channel: input.channel,
      ...(input.description != null ? { description: input.description } : {}),
      occurredAt,
      recordedAt: now,
      ...(amountMinor !== undefined ? { amountMinor, currency } : {}),
      ...(input.externalId != null ? { externalId: input.externalId } : {}),
    },
  };
}

/** The customer named by the item at `path` does not exist (or was erased). */
export function customerNotFound(path: string[]): { problems: FieldProblem[] } {
  return notFound('customer', [...path, 'customerId']);
}
