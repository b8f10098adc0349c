import mongoose, { type AnyBulkWriteOperation } from 'mongoose';
import type { Logger } from '../../shared/logger.js';
import { Customer, type CustomerDoc } from './model.js';
import { searchKeysFor } from './normalize.js';

const MARK = 'customers.searchKeys.contact-marked';
const BATCH = 500;

/**
 * Once per database: search keys written before contact keys were marked (an e-mail or phone
 * digits stored as a plain key, so any role could match them) are written again. Done before
 * traffic, idempotent, and recorded in the `migrations` collection so later starts skip it; two
 * instances running it at once write the same keys.
 */
export async function upgradeSearchKeys(region: string, logger: Logger): Promise<number> {
  const migrations = mongoose.connection.db!.collection<{ _id: string; at: Date }>('migrations');
  if (await migrations.findOne({ _id: MARK })) return 0;
  let changed = 0;
  let pending: Array<AnyBulkWriteOperation<CustomerDoc>> = [];
  const flush = async () => {
    if (pending.length) await Customer.bulkWrite(pending, { ordered: false });
    changed += pending.length;
    pending = [];
  };
  // One pass over the customers (a cursor, not pages: each page would be a scan of its own).
  const cursor = Customer.find({})
    .select({ name: 1, email: 1, phone: 1, code: 1, searchKeys: 1, erasedAt: 1 })
    .lean<CustomerDoc[]>()
    .cursor({ batchSize: BATCH });
  for await (const c of cursor) {
    if (c.erasedAt) continue;
    const keys = searchKeysFor(c, region);
    if (JSON.stringify(keys) === JSON.stringify(c.searchKeys)) continue;
    pending.push({ updateOne: { filter: { _id: c._id }, update: { $set: { searchKeys: keys } } } });
    if (pending.length >= BATCH) await flush();
  }
  await flush();
  await migrations.updateOne({ _id: MARK }, { $setOnInsert: { at: new Date() } }, { upsert: true });
  if (changed) logger.info({ changed }, 'search keys of existing customers rewritten (contact keys marked)');
  return changed;
}
