import mongoose from 'mongoose';
import { claimDueTogether } from '../../db/due-work.js';
import { DAY_MS } from '../../shared/clock.js';
import { startIntervalJob } from '../../shared/interval-job.js';
import { objectIdOrNull } from '../../shared/ids.js';
import type { CustomerDoc } from '../customers/model.js';
import { addCustomerTag, findCustomer, findCustomersAmong, removeCustomerTag } from '../customers/index.js';
import { automationActionData, webhookBody } from '../webhooks/index.js';
import { raiseAlert } from './alerts.js';
import { complaintsInWeek } from './complaints.js';
import { allHold } from './conditions.js';
import type { Automation } from './deps.js';
import { releaseMessageCap, sendMessage } from './messages.js';
import { Job, type ActionDoc, type JobDoc, type RuleDoc, recordStepOnce, recordedAmong } from './model.js';
import { bumpStats, findRules } from './rules.js';
import { publishTask } from './tasks.js';

/** A step that failed this many times is given up and kept as FAILED. */
const MAX_STEP_ATTEMPTS = 5;
const DUE_PER_PASS = 50;
/** How long a pass works from the customers it read before it reads them again. */
const CUSTOMERS_FRESH_MS = 250;

/** A claimed job with what it acts on. */
export type DueStep = { job: JobDoc; rule: RuleDoc; action: ActionDoc; customer: CustomerDoc };

type StepDeps = Pick<
  Automation,
  'clock' | 'logger' | 'events' | 'settings' | 'campaignWebhook' | 'interactions' | 'webhooks' | 'publishedAlerts'
>;

/**
 * The step worker (every process; a lease per job): claims the due steps, runs them and records
 * each outcome, pass after pass while a pass finds a full batch. Resolves when every step it
 * claimed is done — run, given up, or rescheduled after a failure — with the number run.
 */
export async function runDueJobs(deps: StepDeps): Promise<number> {
  let done = 0;
  for (;;) {
    const { claimed, owner } = await claimDueTogether(Job, {
      timeField: 'runAt',
      now: deps.clock.now(),
      leaseMs: deps.settings.leaseMs,
      limit: DUE_PER_PASS,
    });
    done += await runPass(deps, claimed, owner);
    if (claimed.length < DUE_PER_PASS) return done;
  }
}

/**
 * The claimed jobs' steps, one after another in the order claimed. Their rules, customers and
 * step records are read together; a customer is read again for its step when a step of the pass
 * acted on it, and all of them once the pass has run for CUSTOMERS_FRESH_MS (a slow step: an
 * unsubscribe or an erasure meanwhile must stop a message). Each step is recorded and counted as
 * it ends, as one at a time would be; the jobs ended are removed together at the end (a crash
 * before leaves jobs whose records say they ran: they are removed, not run, when claimed again),
 * and those not reached (a step's record failed) are freed for the next pass. The number run.
 */
async function runPass(deps: StepDeps, jobs: JobDoc[], owner: string): Promise<number> {
  if (!jobs.length) return 0;
  const leases = keepLeases(deps, owner, jobs);
  const ended: string[] = [];
  const left = new Set(jobs.map((j) => j._id));
  let ran = 0;
  try {
    const readCustomers = async (of: JobDoc[]) =>
      new Map((await findCustomersAmong(uniqueCustomerIds(of))).map((c) => [String(c._id), c]));
    const [rules, isRecorded, firstRead] = await Promise.all([
      rulesOf(jobs),
      recordedAmong(jobs.map((j) => j._id)),
      readCustomers(jobs),
    ]);
    let customers = firstRead;
    let readAt = performance.now();
    const actedOn = new Set<string>();
    for (const [k, job] of jobs.entries()) {
      if (performance.now() - readAt > CUSTOMERS_FRESH_MS) {
        customers = await readCustomers(jobs.slice(k));
        readAt = performance.now();
        actedOn.clear();
      }
      const key = String(job.customerId);
      const customer = actedOn.has(key) ? await findCustomer(job.customerId) : customers.get(key);
      const outcome = await runJob(deps, { job, rule: rules.get(String(job.ruleId)), customer }, isRecorded, leases);
      left.delete(job._id);
      if (outcome !== 'not run') actedOn.add(key);
      if (outcome !== 'failed') ended.push(job._id);
      if (outcome === 'ran') ran++;
    }
  } finally {
    await leases.stop();
    await endPass(deps, owner, ended, [...left]);
  }
  return ran;
}

/** Each customer of these jobs once. */
function uniqueCustomerIds(jobs: JobDoc[]) {
  return [...new Map(jobs.map((j) => [String(j.customerId), j.customerId])).values()];
}

/**
 * The pass's jobs that ended are removed and those it did not reach are freed, at once rather
 * than at their lease's end. Neither is needed for correctness (a recorded job is removed when
 * claimed again, a lease runs out), so a failure here is logged and does not hide the pass's.
 */
async function endPass(deps: StepDeps, owner: string, ended: string[], unreached: string[]): Promise<void> {
  try {
    if (ended.length) await Job.deleteMany({ _id: mongoose.trusted({ $in: ended }) });
    if (unreached.length)
      await Job.updateMany(
        { _id: mongoose.trusted({ $in: unreached }), leaseOwner: owner },
        { $set: { leaseUntil: new Date(0), leaseOwner: null } },
      );
  } catch (err) {
    deps.logger.warn({ err }, 'automation step pass: could not remove or free its jobs; the next pass will');
  }
}

/** The rules of these jobs, by id: one read (`findRules`, the rules' DataLoader batch). */
async function rulesOf(jobs: JobDoc[]): Promise<Map<string, RuleDoc>> {
  const rules = await findRules([...new Set(jobs.map((j) => String(j.ruleId)))]);
  return new Map(rules.flatMap((r) => (r ? [[String(r._id), r] as const] : [])));
}

/**
 * Runs one claimed job with its rule and customer as read: 'ran' when its step was executed or
 * skipped (and recorded), 'not run' when there was nothing to run (its rule gone, disabled or
 * changed, its customer gone, or its step recorded already), 'failed' when its step failed (it
 * is rescheduled, or given up).
 */
async function runJob(
  deps: StepDeps,
  { job, rule, customer }: { job: JobDoc; rule: RuleDoc | undefined; customer: CustomerDoc | null | undefined },
  isRecorded: Set<string>,
  leases: Leases,
): Promise<'ran' | 'not run' | 'failed'> {
  const action = rule?.actions[job.step];
  // Steps of a rule that was disabled or changed since the run was planned are not run:
  // their step could now be another action.
  const isStale =
    !rule || !action || !rule.enabled || (job.ruleVersion != null && job.ruleVersion !== rule.updatedAt.getTime());
  if (isStale || !customer || isRecorded.has(job._id)) return 'not run';
  const step: DueStep = { job, rule, action, customer };
  let outcome: 'executed' | 'skipped';
  try {
    outcome = await runStep(deps, step);
  } catch (err) {
    // Its lease is no longer renewed: it is rescheduled, and a renewal would delay the retry.
    leases.release(job._id);
    await recordFailure(deps, step, err as Error);
    return 'failed';
  }
  await recordOutcome(deps, step, outcome);
  return 'ran';
}

/** Runs one step; 'skipped' when its onlyIf conditions (or, for a message, the frequency cap) say no. */
async function runStep(deps: StepDeps, step: DueStep): Promise<'executed' | 'skipped'> {
  const { job, rule, action, customer } = step;
  const now = deps.clock.now();
  const subject = { customer, at: now, complaintsLast7Days: () => complaintsInWeek(customer._id, now) };
  if (!(await allHold(action.onlyIf, subject))) return 'skipped';
  switch (action.type) {
    case 'SEND_MESSAGE':
      return sendMessage(deps, step, now);
    case 'ADD_TAG':
      await addCustomerTag(customer._id, action.tag!, now);
      return 'executed';
    case 'REMOVE_TAG':
      await removeCustomerTag(customer._id, action.tag!, now);
      return 'executed';
    case 'CREATE_TASK':
      await publishTask(deps, {
        _id: job._id,
        title: action.title!,
        department: action.department!,
        customerId: customer._id,
        status: 'OPEN',
        dueAt: new Date(now.getTime() + (action.dueInDays ?? 3) * DAY_MS),
        ruleId: rule._id,
        createdAt: now,
        updatedAt: now,
      });
      return 'executed';
    case 'RAISE_ALERT':
      await raiseAlert(deps, {
        _id: job._id,
        title: `${action.title!} — ${customer.code}`, // the code, not the name: alerts outlive erasure
        severity: action.severity ?? 'WARNING',
        departments: action.departments ?? ['SALES', 'MARKETING', 'SUPPORT'],
        kind: 'RULE',
        customerId: customer._id,
        ruleId: rule._id,
        raisedAt: now,
      });
      return 'executed';
    case 'CALL_WEBHOOK': {
      const endpointId = objectIdOrNull(action.webhookEndpointId ?? '');
      if (!endpointId) throw new Error('the webhook endpoint id is not valid');
      const body = webhookBody('AUTOMATION_ACTION', now, automationActionData(rule, customer, job.cause));
      await deps.webhooks.enqueue(`auto:${job._id}`, endpointId, 'AUTOMATION_ACTION', body);
      return 'executed';
    }
  }
}

type Leases = ReturnType<typeof keepLeases>;

/**
 * The pass's jobs keep their leases while it runs (a slow step, a provider's retries): nobody
 * else runs them meanwhile. Only this claim's leases are renewed, and only while they are still
 * its own (`leaseOwner`): a failed step's job is rescheduled without an owner, and the jobs freed
 * at the end of the pass too, so a renewal that lands after either finds nothing to renew.
 * `release` stops renewing one job's lease; `stop` ends the renewals, once one under way is done.
 */
function keepLeases(deps: Pick<StepDeps, 'settings' | 'logger'>, owner: string, jobs: JobDoc[]) {
  const { leaseMs } = deps.settings;
  const held = new Set(jobs.map((j) => j._id));
  const renewals = startIntervalJob(
    'automation step leases',
    Math.max(100, Math.floor(leaseMs / 3)),
    async () => {
      if (!held.size) return;
      await Job.updateMany(
        { _id: mongoose.trusted({ $in: [...held] }), leaseOwner: owner },
        { $set: { leaseUntil: new Date(Date.now() + leaseMs) } },
      );
    },
    deps.logger,
  );
  return {
    release: (id: string) => void held.delete(id),
    stop: () => renewals.stop(),
  };
}

/**
 * The step's record, then its count: a crash between the two leaves the step uncounted, never
 * counted twice (its job, removed at the end of the pass, is then removed unrun when claimed again).
 */
async function recordOutcome(deps: StepDeps, { job, rule }: DueStep, outcome: 'executed' | 'skipped') {
  const isFirstRecord = await recordStepOnce({ _id: job._id, outcome, at: deps.clock.now() });
  if (isFirstRecord) await bumpStats(rule._id, outcome);
}

/** A failed step is retried with backoff; after MAX_STEP_ATTEMPTS it is kept as FAILED and counted. */
async function recordFailure(deps: StepDeps, { job, rule, action }: DueStep, err: Error) {
  const attempts = job.attempts + 1;
  const givesUp = attempts >= MAX_STEP_ATTEMPTS;
  deps.logger.warn(
    { err, job: job._id, attempts },
    givesUp ? 'automation step failed; giving up' : 'automation step failed; will retry',
  );
  await Job.updateOne(
    { _id: job._id },
    {
      $set: {
        attempts,
        lastError: err.message,
        status: givesUp ? 'FAILED' : 'PENDING',
        runAt: new Date(deps.clock.now().getTime() + deps.settings.retryBaseMs * 2 ** (attempts - 1)),
        // No owner: a renewal of the pass still under way finds nothing to renew.
        leaseUntil: new Date(0),
        leaseOwner: null,
      },
    },
  );
  if (!givesUp) return;
  await bumpStats(rule._id, 'failed');
  // Nothing was sent: the customer's message allowance goes back to what it was.
  if (action.type === 'SEND_MESSAGE') await releaseMessageCap(job);
}
