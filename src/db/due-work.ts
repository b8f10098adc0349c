import mongoose, { type Model } from 'mongoose';
import { allInOneBatch } from './collections.js';

/**
 * Claims due work items one by one: the PENDING items whose `timeField` has come (by the
 * domain clock), whose lease has expired (by the real time), oldest first; each is claimed
 * with a compare-and-set that takes a lease for `leaseMs`, so concurrent workers never take the
 * same item. Yields each item as claimed.
 */
export async function* claimDue<T extends { _id: string }>(
  model: Model<T>,
  opts: { timeField: string; now: Date; leaseMs: number; limit: number },
): AsyncGenerator<T> {
  const expiredLease = () => mongoose.trusted({ $lt: new Date() });
  const due = await model
    .find({
      status: 'PENDING',
      [opts.timeField]: mongoose.trusted({ $lte: opts.now }),
      leaseUntil: expiredLease(),
    } as mongoose.QueryFilter<T>)
    .sort({ [opts.timeField]: 1 })
    .limit(opts.limit)
    .lean<T[]>();
  for (const candidate of due) {
    const claimed = await model
      .findOneAndUpdate(
        {
          _id: candidate._id,
          status: 'PENDING',
          [opts.timeField]: mongoose.trusted({ $lte: opts.now }),
          leaseUntil: expiredLease(),
        } as mongoose.QueryFilter<T>,
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
  opts: { timeField: string; now: Date; leaseMs: number; limit: number },
): Promise<{ claimed: T[]; owner: string }> {
  const owner = new mongoose.Types.ObjectId().toHexString();
  const isDue = () =>
    ({
      status: 'PENDING',
      [opts.timeField]: mongoose.trusted({ $lte: opts.now }),
      leaseUntil: mongoose.trusted({ $lt: new Date() }),
    }) as mongoose.QueryFilter<T>;
  const candidates = await model
    .find(isDue(), { _id: 1 })
    .sort({ [opts.timeField]: 1 })
    .limit(opts.limit)
    .lean<Array<{ _id: string }>>();
  if (!candidates.length) return { claimed: [], owner };
  const ids = mongoose.trusted({ $in: candidates.map((c) => c._id) });
  await model.updateMany({ ...isDue(), _id: ids }, {
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
