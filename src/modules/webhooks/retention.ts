import { deliveryDocs } from './model.js';

/** Deliveries looked up per pass of the `{status, nextAttemptAt}` index. */
const BATCH = 500;

/**
 * Removes the deliveries settled before `before`: SUCCEEDED (delivered before it) and FAILED
 * (given up; their last attempt, or the one they gave up before, was before it). Pending ones
 * are never touched. A settled delivery can be sent again (`redeliverWebhook` makes it PENDING),
 * so each is removed by a `findOneAndDelete` on its settled state: the engine serialises it with
 * that update, and a delivery made pending a moment before is kept, never lost.
 */
export async function pruneSettledWebhookDeliveries(opts: { before: Date }): Promise<number> {
  const settled = [
    { status: 'SUCCEEDED' as const, nextAttemptAt: { $lt: opts.before }, deliveredAt: { $lt: opts.before } },
    { status: 'FAILED' as const, nextAttemptAt: { $lt: opts.before } },
  ];
  let removed = 0;
  for (const filter of settled) {
    for (;;) {
      const found = await deliveryDocs.find(filter).project<{ _id: string }>({ _id: 1 }).limit(BATCH).toArray();
      for (const { _id } of found) if (await deliveryDocs.findOneAndDelete({ _id, ...filter })) removed++;
      if (found.length < BATCH) break;
    }
  }
  return removed;
}
