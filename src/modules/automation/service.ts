import mongoose, { Types } from 'mongoose';
import { duplicateIndexesOf, isDuplicateKeyError } from '../../db/errors.js';
import { claimDue } from '../../db/due-work.js';
import { createTtlCache } from '../../shared/ttl-cache.js';
import { newestFirstPage, type Page } from '../../db/pagination.js';
import { DAY_MS, type Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { Config } from '../../config.js';
import { adapterFor } from '../campaigns/adapters.js';
import { renderMessage } from '../campaigns/template.js';
import { Customer, type CustomerDoc } from '../customers/model.js';
import type { FieldProblem } from '../../shared/problems.js';
import type { EventLog } from '../../events/log.js';
import type { EventDoc } from '../../events/model.js';
import type { InteractionDoc } from '../interactions/model.js';
import type { InteractionRecordedPayload } from '../interactions/events.js';
import type { InteractionsService } from '../interactions/service.js';
import type { SegmentChangedPayload } from '../segments/events.js';
import { User } from '../users/model.js';
import { automationActionData, webhookBody } from '../webhooks/payloads.js';
import type { WebhooksService } from '../webhooks/service.js';
import { allHold, daysSinceLastInteraction } from './conditions.js';
import { DEFAULT_JOURNEYS } from './journeys.js';
import {
  Alert,
  ComplaintHour,
  ComplaintWindow,
  Job,
  jobId,
  MessageCap,
  Rule,
  StepDone,
  Task,
  type ActionDoc,
  type AlertDoc,
  type Causation,
  type Department,
  type JobDoc,
  type RuleDoc,
  type RuleStatsDoc,
  type TaskDoc,
  type TriggerType,
} from './model.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { complaintsInWeek, dryRun, listRules, parseRule, type RuleInput } from './rules.js';

const HOUR_MS = 3_600_000;
/** A chain of rule-caused events longer than this is stopped whatever the rules. */
const MAX_CAUSATION_DEPTH = 3;
/** A step that failed this many times is given up and kept as FAILED. */
const MAX_STEP_ATTEMPTS = 5;
const DUE_PER_TICK = 50;
const COMPLAINT_WINDOW_DAYS = 30;

export type AutomationSettings = Config['automation'];

export type AutomationService = ReturnType<typeof createAutomationService>;

const EMPTY_STATS: RuleStatsDoc = { matched: 0, executed: 0, skipped: 0, failed: 0, loopsStopped: 0 };

/** What happened, as a rule trigger sees it. */
type Occurrence = {
  trigger: TriggerType;
  customer: CustomerDoc;
  at: Date;
  seq: number;
  causedBy: Causation | null;
  segmentChange?: SegmentChangedPayload;
  interaction?: InteractionDoc;
};

function occurrencesOf(event: EventDoc): Occurrence[] {
  const base = { at: event.at, seq: event.seq };
  if (event.type === 'SEGMENT_CHANGED') {
    const change = event.payload as SegmentChangedPayload;
    return [
      {
        ...base,
        trigger: change.reason === 'CREATED' ? 'CUSTOMER_CREATED' : 'SEGMENT_CHANGED',
        customer: change.customer,
        causedBy: null,
        segmentChange: change,
      },
    ];
  }
  if (event.type === 'INTERACTION_RECORDED') {
    const p = event.payload as InteractionRecordedPayload;
    const common = { ...base, customer: p.customer, causedBy: p.causedBy ?? null, interaction: p.interaction };
    return [
      { ...common, trigger: 'INTERACTION_RECORDED' },
      ...(p.interaction.type === 'PURCHASE' ? [{ ...common, trigger: 'PURCHASE_RECORDED' as const }] : []),
    ];
  }
  return [];
}

function triggerMatches(rule: RuleDoc, o: Occurrence): boolean {
  const t = rule.trigger;
  if (t.type !== o.trigger) return false;
  switch (t.type) {
    case 'SEGMENT_CHANGED':
      return (
        (!t.fromSegments?.length ||
          (o.segmentChange!.from != null && t.fromSegments.includes(o.segmentChange!.from))) &&
        (!t.toSegments?.length || t.toSegments.includes(o.segmentChange!.to))
      );
    case 'INTERACTION_RECORDED':
      return (
        (!t.interactionTypes?.length || t.interactionTypes.includes(o.interaction!.type)) &&
        (!t.channels?.length || t.channels.includes(o.interaction!.channel))
      );
    case 'PURCHASE_RECORDED': {
      const amount = o.interaction!.amountMinor ?? 0;
      return (
        (!t.channels?.length || t.channels.includes(o.interaction!.channel)) &&
        (t.minAmountMinor == null || amount >= t.minAmountMinor) &&
        (t.maxAmountMinor == null || amount <= t.maxAmountMinor)
      );
    }
    default:
      return true;
  }
}

function hourOf(at: Date): string {
  return new Date(Math.floor(at.getTime() / HOUR_MS) * HOUR_MS).toISOString();
}

/**
 * Automation (issue 8): rules stored as data and evaluated from the event log.
 *
 * - The rule consumer (a LogConsumer: one process at a time, from its stored position) turns
 *   each event into runs of the rules it matches. A run's steps become jobs whose `_id` is
 *   `<rule>:<event seq>:<step>`: processing an event again (after a crash or a takeover)
 *   inserts nothing new, so each (rule, event) runs at most once, across processes.
 * - The job worker (every process; a lease per job) runs due steps. Every effect is keyed by
 *   the job's id (the task's and alert's `_id`, the message's externalId, the webhook delivery's
 *   id), so a step retried after a crash has its effect once. A failing step is retried with
 *   backoff and, after 5 tries, kept as FAILED and counted — never dropped silently.
 * - Loops: events caused by a rule's step carry the chain of rules behind them; a rule never
 *   acts on an event its own steps caused, and no chain goes deeper than 3.
 */
export function createAutomationService(deps: {
  clock: Clock;
  logger: Logger;
  events: EventLog;
  interactions: InteractionsService;
  webhooks: WebhooksService;
  currency: string;
  settings: AutomationSettings;
  campaignWebhook: Config['campaigns']['webhook'];
}) {
  const { clock, events, settings } = deps;
  // Rules are read per event: cached for a second (another process's change shows within it).
  const rulesCache = createTtlCache(1_000, () => listRules(true));
  const enabledRules = () => rulesCache.get();

  async function bumpStats(ruleId: Types.ObjectId, field: keyof RuleStatsDoc, by = 1): Promise<void> {
    await Rule.updateOne({ _id: ruleId }, { $inc: { [`stats.${field}`]: by } });
  }

  // ---- rules ----

  async function saveRule(id: string | null, input: RuleInput) {
    // Webhook endpoint ids arrive as local ids (the resolver translates global ones).
    const endpointProblem = await deps.webhooks.endpointCallCheck();
    const parsed = parseRule(input, deps.currency, endpointProblem);
    if ('problems' in parsed) return parsed;
    const now = clock.now();
    if (id === null) {
      const doc: RuleDoc = {
        _id: new Types.ObjectId(),
        ...parsed.rule,
        stats: { ...EMPTY_STATS },
        createdAt: now,
        updatedAt: now,
      };
      await Rule.collection.insertOne(doc as never);
      rulesCache.invalidate(); // after the write: the next event sees the rule
      return { rule: doc };
    }
    const _id = objectIdOrNull(id);
    const rule =
      _id &&
      (await Rule.findOneAndUpdate(
        { _id },
        { $set: { ...parsed.rule, updatedAt: now } },
        { returnDocument: 'after' },
      ).lean<RuleDoc>());
    rulesCache.invalidate();
    return rule
      ? { rule }
      : { problems: [{ field: ['id'], message: 'no rule has this id', code: 'NOT_FOUND' as const }] };
  }

  async function deleteRule(id: string) {
    const _id = objectIdOrNull(id);
    const deleted = _id && (await Rule.findOneAndDelete({ _id }).lean<RuleDoc>());
    rulesCache.invalidate();
    // Its pending steps go with it (the job worker also drops steps of unknown rules).
    if (deleted) await Job.deleteMany({ ruleId: _id });
    return deleted
      ? { rule: deleted }
      : { problems: [{ field: ['id'], message: 'no rule has this id', code: 'NOT_FOUND' as const }] };
  }

  /** The default journeys, installed once on an empty rules collection (editable afterwards). */
  async function installDefaultJourneys(): Promise<void> {
    if (await Rule.exists({})) return;
    const now = clock.now();
    for (const journey of DEFAULT_JOURNEYS) {
      const parsed = parseRule(journey.rule, deps.currency, () => ({ message: 'no endpoint', code: 'INVALID' }));
      if ('problems' in parsed) throw new Error(`default journey ${journey.name}: ${JSON.stringify(parsed.problems)}`);
      await Rule.collection.insertOne({
        _id: new Types.ObjectId(),
        ...parsed.rule,
        journey: journey.name,
        stats: { ...EMPTY_STATS },
        createdAt: now,
        updatedAt: now,
      } as never);
    }
  }

  // ---- the rule consumer ----

  /** Keeps a customer's recent complaints (idempotent by seq) and the hourly complaint counts. */
  async function noteComplaint(o: Occurrence): Promise<void> {
    const customerId = o.customer._id;
    const window = await ComplaintWindow.findById(customerId).lean();
    const complaints = window?.complaints ?? [];
    if (!complaints.some((c) => c.seq === o.seq)) {
      const since = o.at.getTime() - COMPLAINT_WINDOW_DAYS * DAY_MS;
      const kept = [...complaints.filter((c) => c.at.getTime() > since), { seq: o.seq, at: o.interaction!.occurredAt }];
      await ComplaintWindow.updateOne({ _id: customerId }, { $set: { complaints: kept } }, { upsert: true });
    }
    // The hour's count moves once per event: the guard is the last seq counted.
    const hour = hourOf(o.at);
    try {
      await ComplaintHour.updateOne(
        { _id: hour, lastSeq: mongoose.trusted({ $lt: o.seq }) },
        { $inc: { n: 1 }, $set: { lastSeq: o.seq } },
        { upsert: true },
      );
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err; // counted before
    }
    await checkComplaintAnomaly(o.at);
  }

  /** Complaints in the event's hour above `factor` × their hourly average over the 7 days before. */
  async function checkComplaintAnomaly(at: Date): Promise<void> {
    const hourStart = Math.floor(at.getTime() / HOUR_MS) * HOUR_MS;
    const current = (await ComplaintHour.findById(new Date(hourStart).toISOString()).lean())?.n ?? 0;
    if (current < settings.anomalyMinComplaints) return;
    const previous = await Promise.all(
      Array.from({ length: 168 }, (_, i) =>
        ComplaintHour.findById(new Date(hourStart - (i + 1) * HOUR_MS).toISOString()).lean(),
      ),
    );
    const average = previous.reduce((sum, h) => sum + (h?.n ?? 0), 0) / 168;
    if (current <= settings.anomalyFactor * average) return;
    await raiseAlert({
      _id: `anomaly:complaints:${new Date(hourStart).toISOString()}`,
      title: `Complaint volume: ${current} this hour, ${settings.anomalyFactor}× above the 7-day hourly average (${average.toFixed(2)})`,
      severity: 'CRITICAL',
      departments: ['SUPPORT'],
      kind: 'ANOMALY',
      raisedAt: clock.now(),
    });
  }

  /** Schedules a run of a rule: its steps as jobs, each once (deterministic ids). */
  async function scheduleRun(
    rule: RuleDoc,
    runKey: string,
    o: Pick<Occurrence, 'customer' | 'at' | 'seq' | 'causedBy'> & { type: string },
  ) {
    const causedBy: Causation = {
      ruleIds: [...(o.causedBy?.ruleIds ?? []), String(rule._id)],
      depth: (o.causedBy?.depth ?? 0) + 1,
    };
    const jobs: JobDoc[] = rule.actions.map((a, step) => ({
      _id: jobId(rule._id, runKey, step),
      ruleId: rule._id,
      step,
      customerId: o.customer._id,
      runAt: new Date(o.at.getTime() + a.delayMinutes * 60_000),
      status: 'PENDING',
      attempts: 0,
      leaseUntil: new Date(0),
      ruleVersion: rule.updatedAt.getTime(),
      cause: { type: o.type, seq: o.seq, at: o.at, causedBy },
    }));
    // Steps already done (their job removed) leave a record: they are not scheduled again.
    const done = await Promise.all(jobs.map((j) => StepDone.exists({ _id: j._id })));
    const todo = jobs.filter((_, i) => !done[i]);
    if (!todo.length) return;
    let firstIsNew = todo[0]!.step === 0;
    try {
      await Job.collection.insertMany(todo as never[], { ordered: false });
    } catch (err) {
      const indexes = duplicateIndexesOf(err);
      if (!indexes) throw err;
      if (indexes.includes(0)) firstIsNew = false;
    }
    if (firstIsNew) await bumpStats(rule._id, 'matched');
  }

  /** The rule consumer's handler: every rule the event matches gets one run. */
  async function handleEvent(event: EventDoc): Promise<void> {
    const occurrences = occurrencesOf(event);
    if (!occurrences.length) return;
    if (occurrences[0]!.interaction?.type === 'COMPLAINT') await noteComplaint(occurrences[0]!);
    const rules = await enabledRules();
    for (const o of occurrences) {
      for (const rule of rules) {
        if (!triggerMatches(rule, o)) continue;
        const id = String(rule._id);
        if (o.causedBy?.ruleIds.includes(id) || (o.causedBy?.depth ?? 0) >= MAX_CAUSATION_DEPTH) {
          // Counted once per (rule, event), even when the event is handled again.
          const guard = await StepDone.collection
            .insertOne({ _id: `loop:${id}:${o.seq}`, outcome: 'skipped', at: o.at } as never)
            .then(
              () => true,
              (err: unknown) => {
                if (isDuplicateKeyError(err)) return false;
                throw err;
              },
            );
          if (guard) await bumpStats(rule._id, 'loopsStopped');
          await raiseAlert({
            _id: `loop:${id}:${hourOf(o.at)}`,
            title: `Automation "${rule.name}" was stopped from acting on an event its own actions caused`,
            severity: 'WARNING',
            departments: ['MARKETING'],
            kind: 'LOOP',
            ruleId: rule._id,
            raisedAt: clock.now(),
          });
          continue;
        }
        const matches = await allHold(rule.conditions, {
          customer: o.customer,
          at: o.at,
          complaintsLast7Days: () => complaintsInWeek(o.customer._id, o.at, o.seq),
        });
        if (matches) await scheduleRun(rule, `e${o.seq}`, { ...o, type: o.trigger });
      }
    }
  }

  /**
   * INACTIVE_FOR rules: one pass over the customers quiet for at least the smallest threshold;
   * a run per (rule, customer, quiet spell) — the spell is identified by the customer's last
   * activity, so it runs once until the customer is active again.
   */
  async function scanInactivity(): Promise<number> {
    const rules = (await enabledRules()).filter((r) => r.trigger.type === 'INACTIVE_FOR');
    if (!rules.length) return 0;
    const now = clock.now();
    const minDays = Math.min(...rules.map((r) => r.trigger.inactiveDays!));
    const cursor = Customer.find({ activityAt: mongoose.trusted({ $lt: new Date(now.getTime() - minDays * DAY_MS) }) })
      .lean<CustomerDoc[]>()
      .cursor({ batchSize: 1_000 });
    let runs = 0;
    for await (const customer of cursor) {
      for (const rule of rules) {
        if (daysSinceLastInteraction(customer, now) < rule.trigger.inactiveDays!) continue;
        const matches = await allHold(rule.conditions, {
          customer,
          at: now,
          complaintsLast7Days: () => complaintsInWeek(customer._id, now),
        });
        if (!matches) continue;
        await scheduleRun(rule, `i${String(customer._id)}:${customer.activityAt.getTime()}`, {
          customer,
          at: now,
          seq: 0,
          causedBy: null,
          type: 'INACTIVE_FOR',
        });
        runs++;
      }
    }
    return runs;
  }

  // ---- steps ----

  /**
   * Inserts a record under its deterministic id and appends its event; a retry after a crash
   * between the two finds the record unpublished and appends then (at least once; consumers
   * recognise the id).
   */
  async function insertAndPublish(
    model: typeof Alert | typeof Task,
    doc: AlertDoc | TaskDoc,
    type: 'ALERT_RAISED' | 'TASK_CREATED',
  ): Promise<boolean> {
    const collection = model.collection;
    let isNew = true;
    try {
      await collection.insertOne({ ...doc, published: false } as never);
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
      isNew = false;
      if (await collection.findOne({ _id: doc._id as never, published: true })) return false;
    }
    // TODO(split): typed per kind
    await events.append(type, (type === 'ALERT_RAISED' ? { alert: doc } : { task: doc }) as never);
    await collection.updateOne({ _id: doc._id as never }, { $set: { published: true } });
    return isNew;
  }

  const raiseAlert = (alert: AlertDoc) => insertAndPublish(Alert, alert, 'ALERT_RAISED');

  /** Runs one step; 'skipped' when its onlyIf conditions or the frequency cap say no. */
  async function runStep(
    job: JobDoc,
    rule: RuleDoc,
    action: ActionDoc,
    customer: CustomerDoc,
  ): Promise<'executed' | 'skipped'> {
    const now = clock.now();
    const subject = { customer, at: now, complaintsLast7Days: () => complaintsInWeek(customer._id, now) };
    if (!(await allHold(action.onlyIf, subject))) return 'skipped';
    switch (action.type) {
      case 'SEND_MESSAGE': {
        if (customer.unsubscribedAt) return 'skipped'; // opted out of messages
        const adapter = adapterFor(action.channel ?? 'OUTBOX', { webhook: deps.campaignWebhook, logger: deps.logger });
        if (!adapter) throw new Error(`the ${action.channel} channel is not configured on this server`);
        // The frequency cap: one automated message per customer per window, decided by a
        // compare-and-set on the customer's cap document (a retried step keeps its claim).
        const capFrom = new Date(now.getTime() - settings.messageCapHours * HOUR_MS);
        const before = await MessageCap.findOneAndUpdate(
          { _id: customer._id, $or: [{ lastSentAt: mongoose.trusted({ $lte: capFrom }) }, { jobId: job._id }] },
          { $set: { lastSentAt: now, jobId: job._id } },
          { returnDocument: 'before' },
        ).lean();
        if (before && before.jobId !== job._id)
          // What to give back if this message finally fails.
          await MessageCap.updateOne(
            { _id: customer._id, jobId: job._id },
            { $set: { previousSentAt: before.lastSentAt } },
          );
        if (!before) {
          try {
            await MessageCap.collection.insertOne({
              _id: customer._id,
              lastSentAt: now,
              jobId: job._id,
              previousSentAt: new Date(0),
            } as never);
          } catch (err) {
            if (isDuplicateKeyError(err)) return 'skipped';
            throw err;
          }
        }
        const recipient = {
          customerId: customer._id,
          code: customer.code,
          name: customer.name,
          email: customer.email ?? null,
          phone: customer.phone ?? null,
          segment: customer.segment,
        };
        const body = renderMessage(action.message!, recipient);
        const [outcome] = await adapter.send([
          {
            deliveryId: `auto:${job._id}`,
            ordinal: 0,
            campaign: { id: String(rule._id), code: 'AUTOMATION', name: rule.name },
            recipient,
            body,
          },
        ]);
        if (outcome?.status !== 'DELIVERED') throw new Error(outcome?.error ?? 'the message was not delivered');
        // On the timeline (the outbox's record of it), once: the externalId is the step's id.
        const recorded = await deps.interactions.recordInteraction({
          customerId: String(customer._id),
          type: 'MARKETING',
          channel: action.channel === 'WEBHOOK' ? 'SMS' : 'EMAIL',
          description: body.slice(0, 2_000),
          externalId: `auto:${job._id}`,
          causedBy: job.cause.causedBy ?? null,
        });
        if ('problems' in recorded) throw new Error(recorded.problems.map((p) => p.message).join('; '));
        return 'executed';
      }
      case 'ADD_TAG':
        await Customer.updateOne({ _id: customer._id }, { $addToSet: { tags: action.tag! }, $set: { updatedAt: now } });
        return 'executed';
      case 'REMOVE_TAG':
        await Customer.updateOne({ _id: customer._id }, { $pull: { tags: action.tag! }, $set: { updatedAt: now } });
        return 'executed';
      case 'CREATE_TASK': {
        const task: TaskDoc = {
          _id: job._id,
          title: action.title!,
          department: action.department!,
          customerId: customer._id,
          status: 'OPEN',
          dueAt: new Date(now.getTime() + (action.dueInDays ?? 3) * DAY_MS),
          ruleId: rule._id,
          createdAt: now,
          updatedAt: now,
        };
        await insertAndPublish(Task, task, 'TASK_CREATED');
        return 'executed';
      }
      case 'RAISE_ALERT':
        await raiseAlert({
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
        await deps.webhooks.enqueue(
          `auto:${job._id}`,
          endpointId,
          'AUTOMATION_ACTION',
          webhookBody('AUTOMATION_ACTION', now, automationActionData(rule, customer, job.cause)),
        );
        return 'executed';
      }
    }
  }

  /** One pass of the job worker: claims due steps (a lease each), runs them, records the outcome. */
  async function runDueJobs(): Promise<number> {
    let done = 0;
    const due = claimDue(Job, { timeField: 'runAt', now: clock.now(), leaseMs: settings.leaseMs, limit: DUE_PER_TICK });
    for await (const job of due) {
      const rule = await Rule.findById(job.ruleId).lean<RuleDoc>();
      const action = rule?.actions[job.step];
      const customer = await Customer.findById(job.customerId).lean<CustomerDoc>();
      // Steps of a rule that was disabled or changed since the run was planned are not run:
      // their step could now be another action.
      const isStale =
        !rule || !action || !rule.enabled || (job.ruleVersion != null && job.ruleVersion !== rule.updatedAt.getTime());
      if (isStale || !customer || (await StepDone.exists({ _id: job._id }))) {
        await Job.deleteOne({ _id: job._id }); // gone, disabled, changed, or already run
        continue;
      }
      // A slow step (a provider's retries) keeps its lease: nobody else runs it meanwhile.
      const renew = setInterval(
        () =>
          void Job.updateOne({ _id: job._id }, { $set: { leaseUntil: new Date(Date.now() + settings.leaseMs) } }).catch(
            () => {},
          ),
        Math.max(100, Math.floor(settings.leaseMs / 3)),
      );
      try {
        const outcome = await runStep(job, rule, action, customer).finally(() => clearInterval(renew));
        // The step's record first, then the job: a crash between leaves a job the record skips.
        let isFirstRecord = true;
        try {
          await StepDone.collection.insertOne({ _id: job._id, outcome, at: clock.now() } as never);
        } catch (err) {
          if (!isDuplicateKeyError(err)) throw err;
          isFirstRecord = false;
        }
        await Job.deleteOne({ _id: job._id });
        if (isFirstRecord) await bumpStats(rule._id, outcome);
        done++;
      } catch (err) {
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
              lastError: (err as Error).message,
              status: givesUp ? 'FAILED' : 'PENDING',
              runAt: new Date(clock.now().getTime() + settings.retryBaseMs * 2 ** (attempts - 1)),
              leaseUntil: new Date(0),
            },
          },
        );
        if (givesUp) {
          await bumpStats(rule._id, 'failed');
          // Nothing was sent: the customer's message allowance goes back to what it was.
          if (action.type === 'SEND_MESSAGE') {
            const cap = await MessageCap.findOne({ _id: customer._id, jobId: job._id }).lean();
            if (cap)
              await MessageCap.updateOne(
                { _id: customer._id, jobId: job._id },
                { $set: { lastSentAt: cap.previousSentAt ?? new Date(0), jobId: '' } },
              );
          }
        }
      }
    }
    return done;
  }

  // ---- tasks and alerts ----

  async function listTasks(args: {
    departments: Department[] | null;
    status?: TaskDoc['status'] | null;
    first: number;
    after?: string | null;
  }): Promise<Page<TaskDoc> | null> {
    const filter: Record<string, unknown> = {};
    if (args.departments) filter.department = mongoose.trusted({ $in: args.departments });
    if (args.status) filter.status = args.status;
    return newestFirstPage(Task, filter, args, { path: 'createdAt', idKind: 'string' });
  }

  /**
   * Null when the assignee may take the task: an active user, and outside ADMIN (`department`
   * given) one of the task's department. Any other id gets the same answer as an unknown one, so
   * assigning is no way to find out who else works here.
   */
  async function assigneeProblem(
    assigneeId: string | null | undefined,
    department: Department | null,
  ): Promise<FieldProblem | null> {
    if (assigneeId == null) return null;
    const _id = objectIdOrNull(assigneeId);
    const user = _id && (await User.findById(_id).lean());
    if (user?.isActive && (department === null || user.role === department)) return null;
    const whom = department === null ? 'active user' : 'active colleague of this department';
    return { field: ['input', 'assigneeId'], message: `no ${whom} has this id`, code: 'NOT_FOUND' };
  }

  async function createTask(
    input: {
      title: string;
      department: Department;
      customerId?: string | null;
      dueAt?: Date | null;
      assigneeId?: string | null;
    },
    departments: Department[] | null,
  ) {
    const problems: FieldProblem[] = [];
    const title = input.title.trim();
    if (title.length < 1 || title.length > 200)
      problems.push({ field: ['input', 'title'], message: 'title must be 1 to 200 characters', code: 'INVALID' });
    const customerId = input.customerId != null ? objectIdOrNull(input.customerId) : null;
    if (input.customerId != null && !(customerId && (await Customer.exists({ _id: customerId }))))
      problems.push({ field: ['input', 'customerId'], message: 'no customer has this id', code: 'NOT_FOUND' });
    const assignee = await assigneeProblem(input.assigneeId, departments && input.department);
    if (assignee) problems.push(assignee);
    if (problems.length) return { problems };
    const now = clock.now();
    const task: TaskDoc = {
      _id: `t:${new Types.ObjectId().toHexString()}`,
      title,
      department: input.department,
      customerId,
      status: 'OPEN',
      dueAt: input.dueAt ?? null,
      assigneeId: input.assigneeId ? new Types.ObjectId(input.assigneeId) : null,
      createdAt: now,
      updatedAt: now,
    };
    await insertAndPublish(Task, task, 'TASK_CREATED');
    return { task };
  }

  async function updateTask(
    id: string,
    input: {
      title?: string | null;
      status?: TaskDoc['status'] | null;
      dueAt?: Date | null;
      assigneeId?: string | null;
    },
    departments: Department[] | null,
  ) {
    const current = await Task.findById(id).lean<TaskDoc>();
    if (!current || (departments && !departments.includes(current.department)))
      return { problems: [{ field: ['id'], message: 'no task of yours has this id', code: 'NOT_FOUND' as const }] };
    const set: Partial<TaskDoc> = { updatedAt: clock.now() };
    if (input.title != null) {
      const title = input.title.trim();
      if (title.length < 1 || title.length > 200)
        return {
          problems: [
            { field: ['input', 'title'], message: 'title must be 1 to 200 characters', code: 'INVALID' as const },
          ],
        };
      set.title = title;
    }
    if (input.status != null) set.status = input.status;
    if (input.dueAt !== undefined) set.dueAt = input.dueAt;
    if (input.assigneeId !== undefined) {
      const problem = await assigneeProblem(input.assigneeId, departments && current.department);
      if (problem) return { problems: [problem] };
      set.assigneeId = input.assigneeId ? new Types.ObjectId(input.assigneeId) : null;
    }
    const task = await Task.findOneAndUpdate({ _id: id }, { $set: set }, { returnDocument: 'after' }).lean<TaskDoc>();
    return { task: task! };
  }

  async function listAlerts(args: {
    departments: Department[] | null;
    first: number;
    after?: string | null;
  }): Promise<Page<AlertDoc> | null> {
    const filter: Record<string, unknown> = args.departments
      ? { departments: mongoose.trusted({ $in: args.departments }) }
      : {};
    return newestFirstPage(Alert, filter, args, { path: 'raisedAt', idKind: 'string' });
  }

  return {
    listRules,
    findRule: async (id: string) => {
      const _id = objectIdOrNull(id);
      return _id ? Rule.findById(_id).lean<RuleDoc>() : null;
    },
    createRule: (input: RuleInput) => saveRule(null, input),
    updateRule: (id: string, input: RuleInput) => saveRule(id, input),
    deleteRule,
    dryRun: async (input: { ruleId?: string | null; rule?: RuleInput | null }) => {
      if (input.rule) {
        const parsed = parseRule(input.rule, deps.currency, () => null);
        if ('problems' in parsed) return parsed;
        return dryRun(parsed.rule, clock);
      }
      const _id = objectIdOrNull(input.ruleId ?? '');
      const rule = _id && (await Rule.findById(_id).lean<RuleDoc>());
      if (!rule)
        return { problems: [{ field: ['ruleId'], message: 'no rule has this id', code: 'NOT_FOUND' as const }] };
      return dryRun(rule, clock);
    },
    installDefaultJourneys,
    handleEvent,
    scanInactivity,
    runDueJobs,
    listTasks,
    createTask,
    updateTask,
    findTask: (id: string) => Task.findById(id).lean<TaskDoc>(),
    failedSteps: (ruleId: Types.ObjectId, first: number) =>
      Job.find({ ruleId, status: 'FAILED' })
        .sort({ runAt: -1 })
        .limit(Math.min(Math.max(first, 1), 100))
        .lean<JobDoc[]>()
        .exec(),
    listAlerts,
    findAlert: (id: string) => Alert.findById(id).lean<AlertDoc>(),
  };
}
