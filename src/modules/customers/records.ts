import mongoose, { type QueryFilter, type Types } from 'mongoose';
import { allInOneBatch } from '../../db/collections.js';
import { Customer, type CustomerDoc } from './model.js';

/**
 * Reads of the customer collection for other domains: they see customers only through these
 * (and the customers service), never through the model, so the collection has one owner.
 */

/** One customer as stored (erased ones included: callers decide what an erasure means to them). */
export async function findCustomer(id: Types.ObjectId | string): Promise<CustomerDoc | null> {
  return Customer.findById(id).lean<CustomerDoc>();
}

/** The customers with these ids, as stored (one read by `_id`, `$in`); missing ones left out. */
export async function findCustomersAmong(ids: Types.ObjectId[]): Promise<CustomerDoc[]> {
  if (!ids.length) return [];
  return Customer.find({ _id: mongoose.trusted({ $in: ids }) })
    .batchSize(allInOneBatch(ids.length))
    .lean<CustomerDoc[]>();
}

/** Whether a customer with this id exists and was not erased. */
export async function isLiveCustomer(id: Types.ObjectId | string): Promise<boolean> {
  return (await Customer.exists({ _id: id, erasedAt: null })) !== null;
}

/**
 * The customers matching `filter` as a stream, in batches (a sweep's way to read them all
 * without holding them). `sort` defaults to the engine's order; `select` names the only fields
 * read (the others are then absent).
 */
export function streamCustomers(
  filter: QueryFilter<CustomerDoc>,
  opts: { batchSize?: number; sort?: Record<string, 1 | -1>; select?: Partial<Record<keyof CustomerDoc, 1>> } = {},
): AsyncIterable<CustomerDoc> {
  const query = Customer.find(filter).lean<CustomerDoc[]>();
  if (opts.sort) query.sort(opts.sort);
  if (opts.select) query.select(opts.select);
  return query.cursor({ batchSize: opts.batchSize ?? 500 }) as AsyncIterable<CustomerDoc>;
}

/** How many customers match `filter`. */
export async function countCustomers(filter: QueryFilter<CustomerDoc>): Promise<number> {
  return Customer.countDocuments(filter);
}

/** Operator values (`$lt`, `$in`, …) in a filter passed to the reads above. */
export const trustedFilterValue = mongoose.trusted;
