import mongoose, { Types } from 'mongoose';
import { emptyPage, keysetPage, type Keyset, type Page } from '../../db/pagination.js';
import type { FieldProblem } from '../customers/service.js';
import { Interaction, type Channel, type InteractionDoc, type InteractionType } from './model.js';

/** Reading timelines: a customer's or everyone's interactions, newest first. */

const TIMELINE: Keyset = { path: 'occurredAt', direction: -1, kind: 'date', idKind: 'string' };

export type InteractionFilter = {
  customerId?: string | null;
  types?: InteractionType[] | null;
  channels?: Channel[] | null;
  occurredAfter?: Date | null;
  occurredBefore?: Date | null;
};

export async function findInteractionById(id: string): Promise<InteractionDoc | null> {
  return Interaction.findById(id).lean<InteractionDoc>();
}

/** Newest first, `_id` breaking ties, so cursors resume exactly after their item. */
export async function listInteractions(args: {
  filter?: InteractionFilter | null;
  first: number;
  after?: string | null;
}): Promise<Page<InteractionDoc> | { problem: FieldProblem }> {
  const f = args.filter ?? {};
  const and: Record<string, unknown>[] = [];
  if (f.customerId != null) {
    if (!Types.ObjectId.isValid(f.customerId) || f.customerId.length !== 24) {
      return emptyPage();
    }
    and.push({ customerId: new Types.ObjectId(f.customerId) });
  }
  if (f.types?.length) and.push({ type: mongoose.trusted({ $in: f.types }) });
  if (f.channels?.length) and.push({ channel: mongoose.trusted({ $in: f.channels }) });
  if (f.occurredAfter) and.push({ occurredAt: mongoose.trusted({ $gte: f.occurredAfter }) });
  if (f.occurredBefore) and.push({ occurredAt: mongoose.trusted({ $lt: f.occurredBefore }) });
  const base = and.length ? { $and: and } : {};
  const page = await keysetPage({
    model: Interaction,
    filter: base,
    keyset: TIMELINE,
    first: args.first,
    after: args.after,
    totalCount: () => Interaction.countDocuments(base).exec(),
  });
  return page ?? { problem: { field: ['after'], message: 'not a cursor from this list', code: 'INVALID' } };
}

/**
 * The first page of several customers' timelines: one index-backed query per customer (their
 * interactions by customer and time, newest first), run together. A query over all of them at once
 * would have to read every one of their interactions to sort them.
 */
export async function firstPagesForCustomers(
  customerIds: readonly string[],
  first: number,
  types?: InteractionType[] | null,
): Promise<Array<Page<InteractionDoc>>> {
  return Promise.all(
    customerIds.map(async (customerId) => {
      const page = await listInteractions({ filter: { customerId, types }, first });
      return 'problem' in page ? emptyPage<InteractionDoc>() : page;
    }),
  );
}
