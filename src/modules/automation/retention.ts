import type { mongo } from 'mongoose';
import { Job, StepDone, storedCollection, type JobDoc, type StepDoneDoc } from './model.js';

/** Records removed per delete (`_id: {$in: […]}`, answered from the `_id` index). */
const BATCH = 500;

/**
 * The seq of the event that started a run, read from a job's or a step record's id — a step
 * `<rule>:e<seq>:<step>`, a run's match `<rule>:e<seq>:matched`, a stopped loop
 * `loop:<rule>:<seq>` — or null for a run of an
 * INACTIVE_FOR rule (`<rule>:i<customer>:<quiet since>:<step>`).
 */
function eventSeqOfRun(id: string): number | null {
  const match = /^[0-9a-f]{24}:e(\d+):(?:\d+|matched)$|^loop:[0-9a-f]{24}:(\d+)$/.exec(id);
  return match ? Number(match[1] ?? match[2]) : null;
}

export type AutomationPruneOutcome = { failedSteps: number; stepRecords: number };

/**
 * Removes the automation work finished before `before`: steps given up (FAILED jobs, which
 * never become pending again) and the records of steps that ran (a done step's job is removed
 * at once; its record stays to skip the step if the run is scheduled again). Only of runs an
 * event started that every durable consumer has handled (seq ≤ `handledUpTo`): that event is
 * never handled again, so no run needs them. Runs of INACTIVE_FOR rules keep theirs — a quiet
 * spell can outlast any window, and its record (or its failed step) is what makes it run once.
 * Pending jobs are never touched.
 */
export async function pruneFinishedAutomationWork(opts: {
  before: Date;
  handledUpTo: number;
}): Promise<AutomationPruneOutcome> {
  return {
    failedSteps: await pruneFailedSteps(opts.before, opts.handledUpTo),
    stepRecords: await pruneStepRecords(opts.before, opts.handledUpTo),
  };
}

/** FAILED jobs, found from the `{status, runAt}` index (`runAt` of a given-up step: when it gave up). */
function pruneFailedSteps(before: Date, handledUpTo: number): Promise<number> {
  const jobs = storedCollection<JobDoc>(Job);
  const failed = jobs.find({ status: 'FAILED', runAt: { $lt: before }, 'cause.type': { $ne: 'INACTIVE_FOR' } });
  return removeEventRuns(failed, handledUpTo, (ids) => jobs.deleteMany({ _id: { $in: ids }, status: 'FAILED' }));
}

/** Step records older than the window, read by their time (indexed). */
function pruneStepRecords(before: Date, handledUpTo: number): Promise<number> {
  const records = storedCollection<StepDoneDoc>(StepDone);
  const done = records.find({ at: { $lt: before }, _id: { $not: /^[0-9a-f]{24}:i/ } });
  return removeEventRuns(done, handledUpTo, (ids) => records.deleteMany({ _id: { $in: ids } }));
}

/** Reads the candidates once, removing BATCH at a time those of event runs handled up to `handledUpTo`. */
async function removeEventRuns(
  candidates: mongo.FindCursor<{ _id: string }>,
  handledUpTo: number,
  remove: (ids: string[]) => Promise<{ deletedCount: number }>,
): Promise<number> {
  let removed = 0;
  let ids: string[] = [];
  for await (const { _id } of candidates.project<{ _id: string }>({ _id: 1 }).batchSize(BATCH)) {
    if ((eventSeqOfRun(_id) ?? Infinity) <= handledUpTo) ids.push(_id);
    if (ids.length < BATCH) continue;
    removed += (await remove(ids)).deletedCount;
    ids = [];
  }
  if (ids.length) removed += (await remove(ids)).deletedCount;
  return removed;
}
