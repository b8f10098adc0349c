import mongoose, { Types } from 'mongoose';
import { cursorOf, emptyPage, keysetPage, pageSize, type Keyset, type Page } from '../../db/pagination.js';
import { objectIdOrNull } from '../../shared/ids.js';
import type { FieldProblem } from '../../shared/problems.js';
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
    const customerId = objectIdOrNull(f.customerId);
    if (!customerId) return emptyPage();
    and.push({ customerId });
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
 * The first page of several customers' timelines in one query: all their interactions, read
 * through the (customerId, occurredAt, _id) index, split in memory. A customer with a very long
 * timeline could make that one read large, so it is capped; customers the capped read leaves
 * short are then read on their own.
 */
export async function firstPagesForCustomers(
  customerIds: readonly string[],
  first: number,
  types?: InteractionType[] | null,
): Promise<Array<Page<InteractionDoc>>> {
  const size = pageSize(first);
  const ids = customerIds.map((id) => new Types.ObjectId(id));
  const cap = (size + 1) * ids.length * 20;
  const query = {
    customerId: mongoose.trusted({ $in: ids }),
    ...(types?.length ? { type: mongoose.trusted({ $in: types }) } : {}),
  };
  const docs = await Interaction.find(query).sort({ occurredAt: -1, _id: -1 }).limit(cap).lean<InteractionDoc[]>();
  const byCustomer = new Map<string, InteractionDoc[]>(customerIds.map((id) => [id, []]));
  for (const d of docs) {
    const list = byCustomer.get(String(d.customerId))!;
    if (list.length <= size) list.push(d);
  }
  const isCapped = docs.length === cap;
  return Promise.all(
    customerIds.map(async (id) => {
      const list = byCustomer.get(id)!;
      if (isCapped && list.length <= size) {
        const own = await listInteractions({ filter: { customerId: id, types }, first: size });
        if (!('problem' in own)) return own;
      }
      return {
        items: list.slice(0, size).map((d) => ({ node: d, cursor: cursorOf(TIMELINE, d) })),
        hasNextPage: list.length > size,
        hasPreviousPage: false,
        totalCount: () =>
          Interaction.countDocuments({
            customerId: new Types.ObjectId(id),
            ...(types?.length ? { type: mongoose.trusted({ $in: types }) } : {}),
          }).exec(),
      };
    }),
  );
}
