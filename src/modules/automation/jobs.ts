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
  storedCollection,
  type Causation,
  type JobDoc,
  type RuleDoc,
  recordStepOnce,
  recordedAmong,
} from './model.js';
import { bumpStats } from './rules.js';

/** What starts a run: the event (its type, seq and time) or the quiet spell, and its customer. */
export type RunCause = { type: string; customer: CustomerDoc; at: Date; seq: number; causedBy: Causation | null };

/** A run of a rule to schedule: the rule, the run's key, and what started it. */
export type PlannedRun = { rule: RuleDoc; runKey: string; cause: RunCause };

function jobsOf({ rule, runKey, cause }: PlannedRun): JobDoc[] {
  const causedBy: Causation = {
    ruleIds: [...(cause.causedBy?.ruleIds ?? []), String(rule._id)],
    depth: (cause.causedBy?.depth ?? 0) + 1,
  };
  return rule.actions.map((a, step) => ({
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
}

/** Schedules one run of a rule (see `scheduleRuns`). */
export async function scheduleRun(rule: RuleDoc, runKey: string, cause: RunCause): Promise<void> {
  await scheduleRuns([{ rule, runKey, cause }]);
}

/**
 * Schedules runs of rules: their steps as jobs, each once, with one read of the steps already
 * done and one insert of the jobs, whatever their number; then each new run's record and count.
 * A job's id is `<rule>:<run key>:<step>`, so scheduling the same run again (an event handled
 * twice after a crash, a quiet spell seen by two scans) inserts nothing new.
 */
export async function scheduleRuns(runs: PlannedRun[]): Promise<void> {
  const planned = runs.map((run) => ({ run, jobs: jobsOf(run) }));
  const all = planned.flatMap((p) => p.jobs);
  if (!all.length) return;
  // Steps already done (their job removed) leave a record: they are not scheduled again.
  const done = await recordedAmong(all.map((j) => j._id));
  const todo = all.filter((j) => !done.has(j._id));
  try {
    if (todo.length) await storedCollection<JobDoc>(Job).insertMany(todo, { ordered: false });
  } catch (err) {
    if (!duplicateIndexesOf(err)) throw err; // scheduled already: by an earlier handling of the event
  }
  // Each run is counted once, by its `matched` record: the first to insert it counts the run,
  // whoever scheduled its jobs and whether they ran since (a process killed after the jobs'
  // insert leaves its runs to be counted when their events are handled again). Record and count
  // one after the other, as a step's are: a process killed between the two leaves that one run
  // uncounted, never more.
  for (const { run, jobs } of planned) {
    if (!jobs.length) continue;
    const matched = { _id: jobId(run.rule._id, run.runKey, 'matched'), outcome: 'matched' as const, at: run.cause.at };
    if (await recordStepOnce(matched)) await bumpStats(run.rule._id, 'matched');
  }
}

/**
 * The rule consumer's runs not scheduled yet: written together by `flush`, which the consumer
 * calls before it stores its position (after the complaint book's, so a step that reads the
 * complaint windows finds what was noted), so a crash before then hands their events over again.
 */
export function createRunBook() {
  let pending = new Map<string, PlannedRun>();
  return {
    add(run: PlannedRun): void {
      pending.set(jobId(run.rule._id, run.runKey, 'matched'), run);
    },
    async flush(): Promise<void> {
      const runs = [...pending.values()];
      pending = new Map();
      await scheduleRuns(runs);
    },
  };
}

export type RunBook = ReturnType<typeof createRunBook>;

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
