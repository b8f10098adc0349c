import mongoose, { Types } from 'mongoose';
import { allInOneBatch } from '../../db/collections.js';
import type { EventLog } from '../../events/log.js';
import { Event } from '../../events/model.js';
import type { Logger } from '../../shared/logger.js';
import { findCustomersAmong } from '../customers/index.js';
import { recomputeCustomer, type AggregatesDeps } from './aggregates.js';
import { Interaction, itemsOf, PendingApplication, type InteractionDoc, type PendingApplicationDoc } from './model.js';

/** A journal entry older than this belongs to a writer that died; its customer is repaired. */
const STALE_PENDING_MS = 60_000;

export type RepairDeps = AggregatesDeps & {
  logger: Logger;
  /** This process's attempts that failed midway: interaction id → journal entry id. */
  unfinished: Map<string, string>;
  events: Pick<EventLog, 'appendMany'>;
  onRecorded?: (recorded: InteractionDoc[]) => Promise<unknown>;
};

/**
 * Finishes what a crashed writer left in the journal: for each customer named there, its
 * aggregates are recomputed from all of its interactions and written with `$set` (so running
 * this twice, or after a writer that did finish, changes nothing), then its segment settled.
 */
export async function repairPendingApplications(deps: RepairDeps, olderThanMs = STALE_PENDING_MS): Promise<number> {
  await finishUnfinishedAttempts(deps);
  const cutoff = new Date(deps.clock.now().getTime() - olderThanMs);
  const stale = await PendingApplication.find({ startedAt: mongoose.trusted({ $lte: cutoff }) }).lean();
  if (!stale.length) return 0;
  await finishAttempts(deps, stale);
  const items = stale.flatMap(itemsOf);
  deps.logger.warn(
    { repaired: items.length, customers: new Set(items.map((p) => String(p.customerId))).size },
    'repaired interactions left by a crashed writer',
  );
  return items.length;
}

/**
 * Finishes the attempts of this process that failed midway (the database went away): at once,
 * instead of after the stale delay, since no writer is still working on them. With
 * `interactionIds`, only theirs (a replay finishes its original before it answers).
 */
export async function finishUnfinishedAttempts(deps: RepairDeps, interactionIds?: string[]): Promise<void> {
  const wanted = interactionIds ?? [...deps.unfinished.keys()];
  if (!wanted.some((id) => deps.unfinished.has(id))) return;
  await deps.perCustomer.run('unfinished-attempts', async () => {
    const attemptIds = new Set(wanted.flatMap((id) => deps.unfinished.get(id) ?? []));
    if (!attemptIds.size) return;
    const entries = await PendingApplication.find({ _id: mongoose.trusted({ $in: [...attemptIds] }) }).lean();
    await finishAttempts(deps, entries);
    // Every interaction of those attempts is finished now, not only the ones asked about.
    for (const [id, attemptId] of deps.unfinished) if (attemptIds.has(attemptId)) deps.unfinished.delete(id);
  });
}

/**
 * The journal entries' customers recomputed from all of their interactions (`$set`: running
 * this twice, or after a writer that did finish, changes nothing), the events appended that
 * were not, attribution run again (idempotent by the purchase's id), then the entries removed.
 * The interactions and customers are read with one query each, whatever the batch's size.
 */
async function finishAttempts(deps: RepairDeps, entries: PendingApplicationDoc[]): Promise<void> {
  const items = entries.flatMap(itemsOf);
  const customerIds = [...new Set(items.map((p) => String(p.customerId)))].map((id) => new Types.ObjectId(id));
  for (const customerId of customerIds) await recomputeCustomer(deps, customerId);
  const ids = items.map((p) => p.interactionId);
  const published = await publishedAmong(ids);
  const byId = new Map(
    (
      await Interaction.find({ _id: mongoose.trusted({ $in: ids }) })
        .batchSize(allInOneBatch(ids.length))
        .lean<InteractionDoc[]>()
    ).map((i) => [i._id, i]),
  );
  const interactions = ids.flatMap((id) => byId.get(id) ?? []);
  const customers = new Map((await findCustomersAmong(customerIds)).map((c) => [String(c._id), c]));
  await deps.events.appendMany(
    'INTERACTION_RECORDED',
    interactions
      .filter((i) => customers.has(String(i.customerId)) && !published.has(i._id))
      .map((interaction) => ({ interaction, customer: customers.get(String(interaction.customerId))! })),
  );
  if (interactions.length) await deps.onRecorded?.(interactions);
  await PendingApplication.deleteMany({ _id: mongoose.trusted({ $in: entries.map((e) => e._id) }) });
}

/**
 * Which of these interactions a crashed writer did publish (one scan of the log, on this
 * repair path only), so that no consumer — automation, webhooks, analytics — sees one twice.
 */
async function publishedAmong(interactionIds: string[]): Promise<Set<string>> {
  const events = await Event.find({
    type: 'INTERACTION_RECORDED',
    'payload.interaction._id': mongoose.trusted({ $in: interactionIds }),
  })
    .select({ 'payload.interaction._id': 1 })
    .lean<Array<{ payload: { interaction: { _id: string } } }>>();
  return new Set(events.map((e) => e.payload.interaction._id));
}
