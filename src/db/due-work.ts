import mongoose, { type Model } from 'mongoose';

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
