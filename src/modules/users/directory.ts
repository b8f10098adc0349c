import mongoose from 'mongoose';
import { allInOneBatch } from '../../db/collections.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { User, type UserDoc } from './model.js';

/**
 * Reads of the users collection for other domains (a task's assignee): they see users only
 * through these and the users service, never through the model.
 */

/** One user as stored (inactive ones included: callers decide what that means to them). */
export async function findUser(id: string): Promise<UserDoc | null> {
  const _id = objectIdOrNull(id);
  return _id ? User.findById(_id).lean<UserDoc>().exec() : null;
}

/** The users with these ids, in the order asked, null where there is none (a DataLoader's batch). */
export async function findUsers(ids: readonly string[]): Promise<Array<UserDoc | null>> {
  const valid = ids.filter((id) => objectIdOrNull(id) !== null);
  const docs = valid.length
    ? await User.find({ _id: mongoose.trusted({ $in: valid }) })
        .batchSize(allInOneBatch(valid.length))
        .lean<UserDoc[]>()
    : [];
  const byId = new Map(docs.map((d) => [String(d._id), d]));
  return ids.map((id) => byId.get(id) ?? null);
}
