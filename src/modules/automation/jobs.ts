import mongoose, { type Types } from 'mongoose';
import { duplicateIndexesOf } from '../../db/errors.js';
import { DAY_MS } from '../../shared/clock.js';
import type { CustomerDoc } from '../customers/model.js';
import { streamCustomers } from '../customers/index.js';
import { complaintsInWeek } from './complaints.js';
import { allHold, daysSinceLastInteraction } from './conditions.js';
import type { Automation } from './deps.js';
import {
  Job,
  jobId,
  StepDone,
  storedCollection,
  type Causation,
  type JobDoc,
  type RuleDoc,
  recordStepOnce,
} from './model.js';
import { bumpStats } from './rules.js';

/** What starts a run: the event (its type, seq and time) or the quiet spell, and its customer. */
export type RunCause = { type: string; customer: CustomerDoc; at: Date; seq: number; causedBy: Causation | null };

/**
 * Schedules a run of a rule: its steps as jobs, each once. A job's id is
 * `<rule>:<run key>:<step>`, so scheduling the same run again (an event handled twice after a
 * crash, a quiet spell seen by two scans) inserts nothing new.
 */
export async function scheduleRun(rule: RuleDoc, runKey: string, cause: RunCause): Promise<void> {
  const causedBy: Causation = {
    ruleIds: [...(cause.causedBy?.ruleIds ?? []), String(rule._id)],
    depth: (cause.causedBy?.depth ?? 0) + 1,
  };
  const jobs: JobDoc[] = rule.actions.map((a, step) => ({
    _id: jobId(rule._id, runKey, step),
    ruleId: rule._id,
    step,
    customerId: cause.customer._id,
    runAt: new Date(cause.at.getTime() + a.delayMinutes * 60_000),
    status: 'PENDING',
    attempts: 0,
    leaseUntil: new Date(0),
    ruleVersion: rule.updatedAt.getTime(),
    cause: { type: cause.type, seq: cause.seq, at: cause.at, causedBy },
  }));
  // Steps already done (their job removed) leave a record: they are not scheduled again (one read).
  const done = new Set(
    (await StepDone.find({ _id: mongoose.trusted({ $in: jobs.map((j) => j._id) }) }, { _id: 1 }).lean()).map((d) =>
      String(d._id),
    ),
  );
  const todo = jobs.filter((j) => !done.has(j._id));
  if (!todo.length) return;
  let isFirstNew = todo[0]!.step === 0;
  try {
    await storedCollection<JobDoc>(Job).insertMany(todo, { ordered: false });
  } catch (err) {
    const indexes = duplicateIndexesOf(err);
    if (!indexes) throw err;
    if (indexes.includes(0)) isFirstNew = false;
  }
  // Counted once per run: its first step is new here, and its `matched` record too. The first
  // alone is not enough: the run's steps may finish (their jobs removed) between the look-up
  // of done steps above and the insert, which then schedules the first step again (the worker
  // skips it: it is done) and would count the run twice.
  if (
    isFirstNew &&
    (await recordStepOnce({ _id: jobId(rule._id, runKey, 'matched'), outcome: 'matched', at: cause.at }))
  )
    await bumpStats(rule._id, 'matched');
}

/**
 * INACTIVE_FOR rules: one pass over the customers quiet for at least the smallest threshold;
 * a run per (rule, customer, quiet spell) — the spell is identified by the customer's last
 * activity, so it runs once until the customer is active again. Resolves once every run it
 * found is scheduled, with their number.
 */
export async function scanInactivity(deps: Pick<Automation, 'clock' | 'rules'>): Promise<number> {
  const rules = (await deps.rules.enabled()).filter((r) => r.trigger.type === 'INACTIVE_FOR');
  if (!rules.length) return 0;
  const now = deps.clock.now();
  const minDays = Math.min(...rules.map((r) => r.trigger.inactiveDays!));
  const quiet = streamCustomers(
    { activityAt: mongoose.trusted({ $lt: new Date(now.getTime() - minDays * DAY_MS) }) },
    { batchSize: 1_000 },
  );
  let runs = 0;
  for await (const customer of quiet) {
    for (const rule of rules) {
      if (daysSinceLastInteraction(customer, now) < rule.trigger.inactiveDays!) continue;
      const matches = await allHold(rule.conditions, {
        customer,
        at: now,
        complaintsLast7Days: () => complaintsInWeek(customer._id, now),
      });
      if (!matches) continue;
      await scheduleRun(rule, `i${String(customer._id)}:${customer.activityAt.getTime()}`, {
        type: 'INACTIVE_FOR',
        customer,
        at: now,
        seq: 0,
        causedBy: null,
      });
      runs++;
    }
  }
  return runs;
}

/** A rule's steps that were given up, newest first. */
export function failedSteps(ruleId: Types.ObjectId, first: number): Promise<JobDoc[]> {
  return Job.find({ ruleId, status: 'FAILED' })
    .sort({ runAt: -1 })
    .limit(Math.min(Math.max(first, 1), 100))
    .lean<JobDoc[]>()
    .exec();
}
