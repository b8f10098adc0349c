import mongoose, { Types } from 'mongoose';
import { nextSequence } from '../../db/counters.js';
import type { Clock } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { MoneyError, parseAmount } from '../../shared/money.js';
import { notFound, type FieldProblem } from '../../shared/problems.js';
import type { SegmentsService } from '../segments/service.js';
import { segmentFor, type Segment } from '../../shared/segment-policy.js';
import { Customer, type CustomerDoc } from './model.js';
import {
  InvalidFieldError,
  normalizeEmail,
  normalizeName,
  normalizePhone,
  normalizeTags,
  searchKeysFor,
  searchPrefixes,
} from './normalize.js';
import { isDuplicateKeyError } from '../../db/errors.js';
import { keysetPage, type Page } from '../../db/pagination.js';

const EPOCH = new Date(0);

export type CreateCustomerInput = {
  name: string;
  email?: string | null;
  phone?: string | null;
  tags?: string[] | null;
  joinedAt?: Date | null;
};
export type UpdateCustomerInput = {
  name?: string | null;
  email?: string | null;
  phone?: string | null;
  tags?: string[] | null;
};

export type CustomerFilter = {
  segments?: Segment[] | null;
  search?: string | null;
  tags?: string[] | null;
  minTotalPurchases?: string | null;
  lastInteractionBefore?: Date | null;
  lastInteractionAfter?: Date | null;
};

export type CustomerOrderField = 'JOINED_AT' | 'LAST_INTERACTION_AT' | 'TOTAL_PURCHASES' | 'NAME';
export type CustomerOrder = { field: CustomerOrderField; direction?: 'ASC' | 'DESC' | null };

const SORT_FIELDS: Record<CustomerOrderField, { path: keyof CustomerDoc; kind: 'date' | 'number' | 'string' }> = {
  JOINED_AT: { path: 'joinedAt', kind: 'date' },
  LAST_INTERACTION_AT: { path: 'lastInteractionSortAt', kind: 'date' },
  TOTAL_PURCHASES: { path: 'totalPurchasesMinor', kind: 'number' },
  NAME: { path: 'nameLower', kind: 'string' },
};

function problemFrom(err: unknown, path: string[]): FieldProblem {
  if (err instanceof InvalidFieldError) return { field: [...path, err.field], message: err.message, code: 'INVALID' };
  if (err instanceof MoneyError) return { field: path, message: err.message, code: 'INVALID' };
  throw err;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export type CustomersService = ReturnType<typeof createCustomersService>;

export function createCustomersService(deps: {
  clock: Clock;
  currency: string;
  region: string;
  /** The segments domain, injected (it reads and writes customers through this domain's face). */
  segments: Pick<SegmentsService, 'getPolicy' | 'recordChange' | 'segmentCounts'>;
}) {
  const { clock, segments } = deps;

  async function createCustomer(
    input: CreateCustomerInput,
  ): Promise<{ customer: CustomerDoc } | { problems: FieldProblem[] }> {
    let name: string, email: string | undefined, phone: string | undefined, tags: string[];
    try {
      name = normalizeName(input.name);
      email = input.email ? normalizeEmail(input.email) : undefined;
      phone = input.phone ? normalizePhone(input.phone, deps.region) : undefined;
      tags = normalizeTags(input.tags ?? []);
    } catch (err) {
      return { problems: [problemFrom(err, ['input'])] };
    }
    const now = clock.now();
    const joinedAt = input.joinedAt ?? now;
    if (joinedAt.getTime() > now.getTime() + 5 * 60_000) {
      return {
        problems: [{ field: ['input', 'joinedAt'], message: 'joinedAt must not be in the future', code: 'INVALID' }],
      };
    }
    // No look-up of the email first: on the embedded engine it would scan every customer, and
    // the unique index decides duplicates atomically anyway (11000 below).

    const [policy, codeNumber] = await Promise.all([segments.getPolicy(), nextSequence('customer_code')]);
    const code = `C${String(codeNumber).padStart(5, '0')}`;
    const aggregates = { totalPurchasesMinor: 0, purchaseCount: 0, joinedAt };
    const doc: CustomerDoc = {
      _id: new Types.ObjectId(),
      code,
      name,
      ...(email ? { email } : {}),
      ...(phone ? { phone } : {}),
      tags,
      searchKeys: searchKeysFor({ name, email, phone, code }, deps.region),
      nameLower: name.toLowerCase(),
      segment: segmentFor(aggregates, policy, now),
      segmentChangedAt: now,
      totalPurchasesMinor: 0,
      purchaseCount: 0,
      interactionCount: 0,
      lastInteractionSortAt: EPOCH,
      activityAt: joinedAt,
      joinedAt,
      rev: 0,
      createdAt: now,
      updatedAt: now,
    };
    try {
      await Customer.collection.insertOne(doc);
    } catch (err) {
      // Two creates with one email at once: the unique index decides.
      if (isDuplicateKeyError(err)) return { problems: [duplicateEmail()] };
      throw err;
    }
    await segments.recordChange(doc, null, doc.segment, 'CREATED');
    return { customer: doc };
  }

  function duplicateEmail(): FieldProblem {
    return { field: ['input', 'email'], message: 'another customer has this email', code: 'DUPLICATE' };
  }

  async function updateCustomer(
    id: string,
    input: UpdateCustomerInput,
  ): Promise<{ customer: CustomerDoc } | { problems: FieldProblem[] }> {
    const current = await findById(id);
    if (!current) return notFound('customer');
    if (current.erasedAt)
      return { problems: [{ field: ['id'], message: 'this customer was deleted', code: 'INVALID_STATE' }] };
    const set: Partial<CustomerDoc> = {};
    const unset: Record<string, ''> = {};
    try {
      if (input.name != null) set.name = normalizeName(input.name);
      if (input.email !== undefined) {
        if (input.email === null || input.email.trim() === '') unset.email = '';
        else set.email = normalizeEmail(input.email);
      }
      if (input.phone !== undefined) {
        if (input.phone === null || input.phone.trim() === '') unset.phone = '';
        else set.phone = normalizePhone(input.phone, deps.region);
      }
      if (input.tags != null) set.tags = normalizeTags(input.tags);
    } catch (err) {
      return { problems: [problemFrom(err, ['input'])] };
    }
    // The embedded engine reports a unique-index violation on update as an internal error, not
    // 11000, so a changed email is looked up first (the 11000 catch below serves MongoDB races).
    if (set.email && set.email !== current.email && (await Customer.exists({ email: set.email }))) {
      return { problems: [duplicateEmail()] };
    }
    const next = { ...current, ...set };
    for (const key of Object.keys(unset)) delete (next as Record<string, unknown>)[key];
    set.nameLower = next.name.toLowerCase();
    set.searchKeys = searchKeysFor(next, deps.region);
    set.updatedAt = clock.now();
    try {
      const updated = await Customer.findOneAndUpdate(
        { _id: current._id },
        { $set: set, $inc: { rev: 1 }, ...(Object.keys(unset).length ? { $unset: unset } : {}) },
        { returnDocument: 'after' },
      ).lean<CustomerDoc>();
      if (!updated) return notFound('customer');
      return { customer: updated };
    } catch (err) {
      if (isDuplicateKeyError(err)) return { problems: [duplicateEmail()] };
      throw err;
    }
  }

  async function findById(id: string): Promise<CustomerDoc | null> {
    const _id = objectIdOrNull(id);
    return _id && Customer.findById(_id).lean<CustomerDoc>();
  }

  /** Several customers in one query (one scan on the embedded engine), in the order asked. */
  async function findByIds(ids: readonly string[]): Promise<Array<CustomerDoc | null>> {
    const valid = ids.filter((id) => objectIdOrNull(id) !== null);
    const docs = valid.length
      ? await Customer.find({ _id: mongoose.trusted({ $in: valid }) }).lean<CustomerDoc[]>()
      : [];
    const byId = new Map(docs.map((d) => [String(d._id), d]));
    return ids.map((id) => byId.get(id) ?? null);
  }

  function buildFilter(
    filter: CustomerFilter,
    contactDetails: boolean,
  ): Record<string, unknown> | { problem: FieldProblem } {
    const and: Record<string, unknown>[] = [];
    if (filter.segments?.length) and.push({ segment: mongoose.trusted({ $in: filter.segments }) });
    if (filter.tags?.length) {
      try {
        and.push({ tags: mongoose.trusted({ $all: normalizeTags(filter.tags) }) });
      } catch (err) {
        return { problem: problemFrom(err, ['filter']) };
      }
    }
    if (filter.search?.trim()) {
      // A role that sees e-mail and phone masked searches names and codes only.
      const prefixes = searchPrefixes(filter.search, { contactDetails }).slice(0, 4);
      if (!prefixes.length) return { _id: null }; // nothing searchable: nothing matches
      and.push({ $or: prefixes.map((p) => ({ searchKeys: mongoose.trusted({ $regex: `^${escapeRegex(p)}` }) })) });
    }
    if (filter.minTotalPurchases != null) {
      try {
        and.push({
          totalPurchasesMinor: mongoose.trusted({ $gte: parseAmount(filter.minTotalPurchases, deps.currency) }),
        });
      } catch (err) {
        return { problem: problemFrom(err, ['filter', 'minTotalPurchases']) };
      }
    }
    if (filter.lastInteractionBefore)
      and.push({ lastInteractionAt: mongoose.trusted({ $lt: filter.lastInteractionBefore }) });
    if (filter.lastInteractionAfter)
      and.push({ lastInteractionAt: mongoose.trusted({ $gte: filter.lastInteractionAfter }) });
    return and.length ? { $and: and } : {};
  }

  /**
   * A page of customers ordered by a field with `_id` as the tiebreaker, so a cursor (the
   * field's value and the id of the last item) always resumes exactly after that item.
   */
  async function listCustomers(args: {
    filter?: CustomerFilter | null;
    orderBy?: CustomerOrder | null;
    first: number;
    after?: string | null;
    /** Whether the viewer sees e-mail and phone unmasked, and so may search them. */
    contactDetails: boolean;
  }): Promise<Page<CustomerDoc> | { problem: FieldProblem }> {
    const order = args.orderBy ?? { field: 'JOINED_AT', direction: 'DESC' };
    const sort = SORT_FIELDS[order.field];
    const base = buildFilter(args.filter ?? {}, args.contactDetails);
    if ('problem' in base) return base as { problem: FieldProblem };
    const page = await keysetPage({
      model: Customer,
      filter: base,
      keyset: { path: sort.path, direction: order.direction === 'ASC' ? 1 : -1, kind: sort.kind, idKind: 'objectId' },
      first: args.first,
      after: args.after,
      totalCount: async () => {
        // Without a filter the stored segment counts answer exactly, with no scan.
        if (!Object.keys(base).length) return Object.values(await segments.segmentCounts()).reduce((a, b) => a + b, 0);
        return Customer.countDocuments(base).exec();
      },
    });
    return page ?? { problem: { field: ['after'], message: 'not a cursor from this list', code: 'INVALID' } };
  }

  return {
    createCustomer,
    updateCustomer,
    findById,
    findByIds,
    listCustomers,
  };
}
