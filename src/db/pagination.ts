import mongoose, { Types, type Model } from 'mongoose';
import { decodeCursor, encodeCursor, MAX_PAGE_SIZE } from '../shared/cursors.js';

/** One page of a Relay connection, as services hand it to the connection resolvers. */
export type Page<T> = {
  items: Array<{ node: T; cursor: string }>;
  hasNextPage: boolean;
  hasPreviousPage: boolean;
  totalCount: () => Promise<number>;
};

/** The page size a request gets: `first`, between 0 and MAX_PAGE_SIZE. */
export function pageSize(first: number): number {
  return Math.min(Math.max(first, 0), MAX_PAGE_SIZE);
}

export const emptyPage = <T>(): Page<T> => ({
  items: [],
  hasNextPage: false,
  hasPreviousPage: false,
  totalCount: async () => 0,
});

/**
 * A keyset order: by one field, then by `_id` in the same direction, so a cursor — the field's
 * value and the id of an item — resumes exactly after that item however many items share the
 * value.
 */
export type Keyset = {
  path: string;
  direction: 1 | -1;
  kind: 'date' | 'number' | 'string';
  idKind: 'objectId' | 'string';
};

export function cursorOf(keyset: Keyset, doc: Record<string, unknown>): string {
  const value = doc[keyset.path];
  return encodeCursor([value instanceof Date ? value.toISOString() : (value as string | number), String(doc._id)]);
}

/** The filter for "strictly after this cursor", or null when the cursor is not one of this keyset's. */
function resumeAfter(keyset: Keyset, cursor: string): Record<string, unknown> | null {
  const values = decodeCursor(cursor, 2);
  const [raw, rawId] = values ?? [];
  if (typeof rawId !== 'string') return null;
  if (keyset.idKind === 'objectId' && !Types.ObjectId.isValid(rawId)) return null;
  if (keyset.kind === 'date' && (typeof raw !== 'string' || Number.isNaN(Date.parse(raw)))) return null;
  const value = keyset.kind === 'date' ? new Date(String(raw)) : raw;
  const id = keyset.idKind === 'objectId' ? new Types.ObjectId(rawId) : rawId;
  const op = keyset.direction === 1 ? '$gt' : '$lt';
  // The bound on the field alone is implied by the $or; stated on its own it is a range an index
  // answers (the embedded engine does not push $or down; MongoDB uses it either way).
  return {
    [keyset.path]: mongoose.trusted({ [keyset.direction === 1 ? '$gte' : '$lte']: value }),
    $or: [
      { [keyset.path]: mongoose.trusted({ [op]: value }) },
      { [keyset.path]: value, _id: mongoose.trusted({ [op]: id }) },
    ],
  };
}

/**
 * A page of `first` (at most MAX_PAGE_SIZE) documents matching `filter` in keyset order after
 * `after`: one query for `first + 1` documents. Null when `after` is not a cursor of this list.
 */
export async function keysetPage<T extends { _id: unknown }>(opts: {
  model: Model<T>;
  filter: Record<string, unknown>;
  keyset: Keyset;
  first: number;
  after?: string | null | undefined;
  totalCount: () => Promise<number>;
}): Promise<Page<T> | null> {
  const first = pageSize(opts.first);
  let query = opts.filter;
  if (opts.after) {
    const resume = resumeAfter(opts.keyset, opts.after);
    if (!resume) return null;
    query = Object.keys(opts.filter).length ? { $and: [opts.filter, resume] } : resume;
  }
  const { path, direction } = opts.keyset;
  const docs = await opts.model
    .find(query as mongoose.QueryFilter<T>)
    .sort({ [path]: direction, _id: direction })
    .limit(first + 1)
    .lean<T[]>();
  return {
    items: docs.slice(0, first).map((d) => ({ node: d, cursor: cursorOf(opts.keyset, d as Record<string, unknown>) })),
    hasNextPage: docs.length > first,
    hasPreviousPage: Boolean(opts.after),
    totalCount: opts.totalCount,
  };
}

/**
 * The common list: documents matching `filter`, newest first by a date field, counted with the
 * same filter when a client asks for totalCount.
 */
export function newestFirstPage<T extends { _id: unknown }>(
  model: Model<T>,
  filter: Record<string, unknown>,
  args: { first: number; after?: string | null | undefined },
  by: { path: string; idKind: Keyset['idKind'] },
): Promise<Page<T> | null> {
  return keysetPage({
    model,
    filter,
    keyset: { path: by.path, direction: -1, kind: 'date', idKind: by.idKind },
    first: args.first,
    after: args.after,
    totalCount: () => model.countDocuments(filter as mongoose.QueryFilter<T>).exec(),
  });
}
