import type { AnyBulkWriteOperation } from 'mongoose';
import type { Logger } from '../../shared/logger.js';
import { Customer, type CustomerDoc } from './model.js';
import { searchKeysFor } from './normalize.js';

const BATCH = 500;

/**
 * The data migration `customers.searchKeys.contact-marked` (listed in src/app/migrations): search
 * keys written before contact keys were marked (an e-mail or phone digits stored as a plain key,
 * so any role could match them) are written again. Idempotent, as a migration must be: a
 * customer whose keys are already what this version writes is left alone, so a run interrupted
 * halfway finishes the rest when it runs again.
 */
export async function upgradeSearchKeys(region: string, logger: Logger): Promise<number> {
  let changed = 0;
  let pending: Array<AnyBulkWriteOperation<CustomerDoc>> = [];
  const flush = async () => {
    if (pending.length) await Customer.bulkWrite(pending, { ordered: false });
    changed += pending.length;
    pending = [];
  };
  // One pass over the customers (a cursor, not pages: each page would be a scan of its own),
  // written back in batches of BATCH.
  const cursor = Customer.find({})
    .select({ name: 1, email: 1, phone: 1, code: 1, searchKeys: 1, erasedAt: 1 })
    .lean<CustomerDoc[]>()
    .cursor({ batchSize: BATCH });
  for await (const c of cursor) {
    if (c.erasedAt) continue;
    const keys = searchKeysFor(c, region);
    if (JSON.stringify(keys) === JSON.stringify(c.searchKeys)) continue;
    pending.push({ updateOne: { filter: { _id: c._id }, update: { $set: { searchKeys: keys }, $inc: { rev: 1 } } } });
    if (pending.length >= BATCH) await flush();
  }
  await flush();
  logger.info({ changed }, 'search keys of existing customers rewritten (contact keys marked)');
  return changed;
}
