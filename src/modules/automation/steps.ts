import { claimDue } from '../../db/due-work.js';
import { DAY_MS } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import type { CustomerDoc } from '../customers/model.js';
import { addCustomerTag, findCustomer, removeCustomerTag } from '../customers/index.js';
import { automationActionData, webhookBody } from '../webhooks/index.js';
import { raiseAlert } from './alerts.js';
import { complaintsInWeek } from './complaints.js';
import { allHold } from './conditions.js';
import type { Automation } from './deps.js';
import { releaseMessageCap, sendMessage } from './messages.js';
import { Job, Rule, StepDone, type ActionDoc, type JobDoc, type RuleDoc, recordStepOnce } from './model.js';
import { bumpStats } from './rules.js';
import { publishTask } from './tasks.js';

/** A step that failed this many times is given up and kept as FAILED. */
const MAX_STEP_ATTEMPTS = 5;
const DUE_PER_PASS = 50;

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
    let claimed = 0;
    const due = claimDue(Job, {
      timeField: 'runAt',
      now: deps.clock.now(),
      leaseMs: deps.settings.leaseMs,
      limit: DUE_PER_PASS,
    });
    for await (const job of due) {
      claimed++;
      if (await runJob(deps, job)) done++;
    }
    if (claimed < DUE_PER_PASS) return done;
  }
}

/** Runs one claimed job; true when its step ran (executed or skipped). */
async function runJob(deps: StepDeps, job: JobDoc): Promise<boolean> {
  const rule = await Rule.findById(job.ruleId).lean<RuleDoc>();
  const action = rule?.actions[job.step];
  const customer = await findCustomer(job.customerId);
  // Steps of a rule that was disabled or changed since the run was planned are not run:
  // their step could now be another action.
  const isStale =
    !rule || !action || !rule.enabled || (job.ruleVersion != null && job.ruleVersion !== rule.updatedAt.getTime());
  if (isStale || !customer || (await StepDone.exists({ _id: job._id }))) {
    await Job.deleteOne({ _id: job._id }); // gone, disabled, changed, or already run
    return false;
  }
  const step: DueStep = { job, rule, action, customer };
  try {
    const stopKeepingLease = keepLease(deps.settings.leaseMs, job._id);
    const outcome = await runStep(deps, step).finally(stopKeepingLease);
    await recordOutcome(deps, step, outcome);
    return true;
  } catch (err) {
    await recordFailure(deps, step, err as Error);
    return false;
  }
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

/**
 * A slow step (a provider's retries) keeps its lease: nobody else runs it meanwhile. Returns
 * the stop, which also waits for a renewal under way, so nothing writes the job once the
 * worker has moved on.
 */
function keepLease(leaseMs: number, id: string): () => Promise<void> {
  let renewal: Promise<unknown> = Promise.resolve();
  const timer = setInterval(
    () => {
      renewal = Job.updateOne({ _id: id }, { $set: { leaseUntil: new Date(Date.now() + leaseMs) } })
        .exec()
        .catch(() => {});
    },
    Math.max(100, Math.floor(leaseMs / 3)),
  );
  return async () => {
    clearInterval(timer);
    await renewal;
  };
}

/** The step's record first, then the job: a crash between leaves a job the record skips. */
async function recordOutcome(deps: StepDeps, { job, rule }: DueStep, outcome: 'executed' | 'skipped') {
  const isFirstRecord = await recordStepOnce({ _id: job._id, outcome, at: deps.clock.now() });
  await Job.deleteOne({ _id: job._id });
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
        leaseUntil: new Date(0),
      },
    },
  );
  if (!givesUp) return;
  await bumpStats(rule._id, 'failed');
  // Nothing was sent: the customer's message allowance goes back to what it was.
  if (action.type === 'SEND_MESSAGE') await releaseMessageCap(job);
}
