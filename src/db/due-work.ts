import mongoose, { type Model } from 'mongoose';
import { allInOneBatch } from './collections.js';

type DueOptions = { timeField: string; now: Date; leaseMs: number; limit: number };

/**
 * The PENDING items whose `timeField` has come (by the domain clock) and whose lease has
 * expired (by the real time, as of this call): what a claim looks for, and what its
 * compare-and-set requires still.
 */
function dueFilter<T>(opts: DueOptions): mongoose.QueryFilter<T> {
  return {
    status: 'PENDING',
    [opts.timeField]: mongoose.trusted({ $lte: opts.now }),
    leaseUntil: mongoose.trusted({ $lt: new Date() }),
  } as mongoose.QueryFilter<T>;
}

/**
 * Claims due work items one by one, oldest first; each is claimed with a compare-and-set that
 * takes a lease for `leaseMs`, so concurrent workers never take the same item. Yields each item
 * as claimed.
 */
export async function* claimDue<T extends { _id: string }>(model: Model<T>, opts: DueOptions): AsyncGenerator<T> {
  const due = await model
    .find(dueFilter<T>(opts))
    .sort({ [opts.timeField]: 1 })
    .limit(opts.limit)
    .lean<T[]>();
  for (const candidate of due) {
    const claimed = await model
      .findOneAndUpdate(
        { ...dueFilter<T>(opts), _id: candidate._id } as mongoose.QueryFilter<T>,
        { $set: { leaseUntil: new Date(Date.now() + opts.leaseMs) } },
        { returnDocument: 'after' },
      )
      .lean<T>();
    if (claimed) yield claimed;
  }
}

/**
 * Claims due work items together, where `claimDue` claims them one by one: the same candidates,
 * then one compare-and-set over all of them that takes the lease and marks it with this claim's
 * owner, then one read of what that owner holds — an item another worker claimed in between is
 * left out. The items claimed, in the candidates' order, and the owner (to renew their leases by).
 */
export async function claimDueTogether<T extends { _id: string; leaseOwner?: string | null }>(
  model: Model<T>,
  opts: DueOptions,
): Promise<{ claimed: T[]; owner: string }> {
  const owner = new mongoose.Types.ObjectId().toHexString();
  const candidates = await model
    .find(dueFilter<T>(opts), { _id: 1 })
    .sort({ [opts.timeField]: 1 })
    .limit(opts.limit)
    .lean<Array<{ _id: string }>>();
  if (!candidates.length) return { claimed: [], owner };
  const ids = mongoose.trusted({ $in: candidates.map((c) => c._id) });
  await model.updateMany({ ...dueFilter<T>(opts), _id: ids }, {
    $set: { leaseUntil: new Date(Date.now() + opts.leaseMs), leaseOwner: owner },
  } as mongoose.UpdateQuery<T>);
  const claimed = await model
    .find({ _id: ids, leaseOwner: owner } as mongoose.QueryFilter<T>)
    .batchSize(allInOneBatch(candidates.length))
    .lean<T[]>();
  // In the candidates' order, the index's: items due at the same time stay in the order they
  // were written (the steps of one run), which a sort of the read by time would not keep.
  const position = new Map(candidates.map((c, i) => [c._id, i]));
  claimed.sort((a, b) => position.get(a._id)! - position.get(b._id)!);
  return { claimed, owner };
}
