import { AuditEntry } from './model.js';

/** Entries removed per delete (`_id: {$in: […]}`, answered from the `_id` index). */
const BATCH = 500;

/** Removes the audit entries written before `before`, found from the `{at, _id}` index (entries never change). */
export async function pruneAuditEntries(before: Date): Promise<number> {
  let removed = 0;
  for (;;) {
    const found = await AuditEntry.collection
      .find({ at: { $lt: before } })
      .project<{ _id: unknown }>({ _id: 1 })
      .limit(BATCH)
      .toArray();
    if (found.length)
      removed += (await AuditEntry.collection.deleteMany({ _id: { $in: found.map((e) => e._id) } as never }))
        .deletedCount;
    if (found.length < BATCH) return removed;
  }
}
