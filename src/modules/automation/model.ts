import mongoose, { Schema, Types } from 'mongoose';
import { allInOneBatch, storedCollection } from '../../db/collections.js';
import { isDuplicateKeyError } from '../../db/errors.js';
import type { InteractionType, Channel } from '../interactions/model.js';
import type { Segment } from '../../shared/segment-policy.js';
import type { CampaignChannel } from '../campaigns/model.js';

export const TRIGGER_TYPES = [
  'SEGMENT_CHANGED',
  'INTERACTION_RECORDED',
  'PURCHASE_RECORDED',
  'INACTIVE_FOR',
  'CUSTOMER_CREATED',
] as const;
export type TriggerType = (typeof TRIGGER_TYPES)[number];

export const CONDITION_FIELDS = [
  'SEGMENT',
  'TAGS',
  'TOTAL_PURCHASES',
  'PURCHASE_COUNT',
  'INTERACTION_COUNT',
  'DAYS_SINCE_LAST_INTERACTION',
  'COMPLAINTS_LAST_7_DAYS',
] as const;
export type ConditionField = (typeof CONDITION_FIELDS)[number];

export const CONDITION_OPERATORS = [
  'EQ',
  'NE',
  'GT',
  'GTE',
  'LT',
  'LTE',
  'IN',
  'NOT_IN',
  'CONTAINS',
  'NOT_CONTAINS',
] as const;
export type ConditionOperator = (typeof CONDITION_OPERATORS)[number];

/** A validated condition; amounts are stored in minor units. */
export type ConditionDoc = {
  field: ConditionField;
  operator: ConditionOperator;
  /** A number (counts, days, minor units), a segment, or a tag. */
  value?: number | string | null;
  values?: string[] | null;
};

export type TriggerDoc = {
  type: TriggerType;
  fromSegments?: Segment[] | null;
  toSegments?: Segment[] | null;
  interactionTypes?: InteractionType[] | null;
  channels?: Channel[] | null;
  minAmountMinor?: number | null;
  maxAmountMinor?: number | null;
  inactiveDays?: number | null;
};

export const ACTION_TYPES = [
  'SEND_MESSAGE',
  'ADD_TAG',
  'REMOVE_TAG',
  'CREATE_TASK',
  'RAISE_ALERT',
  'CALL_WEBHOOK',
] as const;
export type ActionType = (typeof ACTION_TYPES)[number];
export const DEPARTMENTS = ['SALES', 'MARKETING', 'SUPPORT'] as const;
export type Department = (typeof DEPARTMENTS)[number];
export const ALERT_SEVERITIES = ['INFO', 'WARNING', 'CRITICAL'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];

export type ActionDoc = {
  type: ActionType;
  delayMinutes: number;
  onlyIf: ConditionDoc[];
  message?: string | null;
  channel?: CampaignChannel | null;
  tag?: string | null;
  department?: Department | null;
  departments?: Department[] | null;
  title?: string | null;
  dueInDays?: number | null;
  severity?: AlertSeverity | null;
  webhookEndpointId?: string | null;
};

export type RuleStatsDoc = { matched: number; executed: number; skipped: number; failed: number; loopsStopped: number };

export type RuleDoc = {
  _id: Types.ObjectId;
  name: string;
  enabled: boolean;
  journey?: string | null;
  trigger: TriggerDoc;
  conditions: ConditionDoc[];
  actions: ActionDoc[];
  stats: RuleStatsDoc;
  createdAt: Date;
  updatedAt: Date;
};

export const Rule = mongoose.model<RuleDoc>(
  'AutomationRule',
  new Schema<RuleDoc>(
    {
      name: { type: String, required: true },
      enabled: { type: Boolean, required: true },
      journey: { type: String },
      trigger: { type: Schema.Types.Mixed, required: true },
      conditions: { type: Schema.Types.Mixed, required: true },
      actions: { type: Schema.Types.Mixed, required: true },
      stats: { type: Schema.Types.Mixed, required: true },
      createdAt: { type: Date, required: true },
      updatedAt: { type: Date, required: true },
    },
    { versionKey: false, collection: 'automation_rules', minimize: false },
  ),
);

/** Which rules caused an event (carried in event payloads), so loops can be stopped. */
export type Causation = { ruleIds: string[]; depth: number };

/**
 * One step of one run of a rule: a durable job. Its `_id` is `<rule>:<run key>:<step>` — the
 * run key is the event's seq (or the quiet spell, for INACTIVE_FOR) — so however often an event
 * is processed, a step exists once, and every effect it has is keyed by the same id.
 */
export type JobDoc = {
  _id: string;
  ruleId: Types.ObjectId;
  step: number;
  customerId: Types.ObjectId;
  runAt: Date;
  status: 'PENDING' | 'FAILED';
  attempts: number;
  lastError?: string | null;
  leaseOwner?: string | null;
  leaseUntil: Date;
  /** The rule's `updatedAt` when the run was planned: a step of a rule changed since is dropped. */
  ruleVersion?: number | null;
  /** The event that started the run (type, seq, payload summary), for messages and webhooks. */
  cause: { type: string; seq: number | null; at: Date; causedBy?: Causation | null };
};

const jobSchema = new Schema<JobDoc>(
  {
    _id: { type: String, required: true },
    ruleId: { type: Schema.Types.ObjectId, required: true },
    step: { type: Number, required: true },
    customerId: { type: Schema.Types.ObjectId, required: true },
    runAt: { type: Date, required: true },
    status: { type: String, enum: ['PENDING', 'FAILED'], required: true },
    attempts: { type: Number, required: true },
    lastError: { type: String },
    leaseOwner: { type: String },
    leaseUntil: { type: Date, required: true },
    ruleVersion: { type: Number },
    cause: { type: Schema.Types.Mixed, required: true },
  },
  { versionKey: false, collection: 'automation_jobs' },
);
jobSchema.index({ status: 1, runAt: 1 });

export const Job = mongoose.model<JobDoc>('AutomationJob', jobSchema);

/**
 * A step that ran (`_id` = the job's id), kept after its job is removed: the pending jobs stay
 * few (the worker's query scans them), and a run scheduled again — an event handled twice after
 * a crash, an inactivity scan seeing the same quiet spell — finds its steps done. A run's
 * `matched` record (`_id` = `jobId(rule, runKey, 'matched')`) says its match was counted. Read
 * by `_id` only.
 */
export type StepDoneDoc = { _id: string; outcome: 'executed' | 'skipped' | 'matched'; at: Date };

const stepDoneSchema = new Schema<StepDoneDoc>(
  { _id: String, outcome: { type: String, required: true }, at: { type: Date, required: true } },
  { versionKey: false, collection: 'automation_steps_done' },
);
// Retention reads the records older than its window by this, not the whole collection.
stepDoneSchema.index({ at: 1 });

export const StepDone = mongoose.model<StepDoneDoc>('AutomationStepDone', stepDoneSchema);

/** Which of these step ids have a record (one read by `_id`, whatever their number). */
export async function recordedAmong(ids: string[]): Promise<Set<string>> {
  const found = await StepDone.find({ _id: mongoose.trusted({ $in: ids }) }, { _id: 1 })
    .batchSize(allInOneBatch(ids.length))
    .lean();
  return new Set(found.map((d) => String(d._id)));
}

/** Stores a step record once (its `_id` is unique): true when this call stored it, false when it was there. */
export async function recordStepOnce(record: StepDoneDoc): Promise<boolean> {
  try {
    await storedCollection<StepDoneDoc>(StepDone).insertOne(record);
    return true;
  } catch (err) {
    if (isDuplicateKeyError(err)) return false;
    throw err;
  }
}

export type TaskDoc = {
  _id: string;
  title: string;
  department: Department;
  customerId?: Types.ObjectId | null;
  status: 'OPEN' | 'DONE' | 'CANCELLED';
  dueAt?: Date | null;
  assigneeId?: Types.ObjectId | null;
  ruleId?: Types.ObjectId | null;
  createdAt: Date;
  updatedAt: Date;
};

const taskSchema = new Schema<TaskDoc>(
  {
    _id: { type: String, required: true },
    title: { type: String, required: true },
    department: { type: String, required: true },
    customerId: { type: Schema.Types.ObjectId },
    status: { type: String, enum: ['OPEN', 'DONE', 'CANCELLED'], required: true },
    dueAt: { type: Date },
    assigneeId: { type: Schema.Types.ObjectId },
    ruleId: { type: Schema.Types.ObjectId },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'tasks' },
);
taskSchema.index({ department: 1, createdAt: -1, _id: -1 });

export const Task = mongoose.model<TaskDoc>('Task', taskSchema);

export type AlertDoc = {
  _id: string;
  title: string;
  severity: AlertSeverity;
  departments: Department[];
  kind: 'RULE' | 'ANOMALY' | 'LOOP';
  customerId?: Types.ObjectId | null;
  ruleId?: Types.ObjectId | null;
  raisedAt: Date;
};

const alertSchema = new Schema<AlertDoc>(
  {
    _id: { type: String, required: true },
    title: { type: String, required: true },
    severity: { type: String, required: true },
    departments: { type: [String], required: true },
    kind: { type: String, required: true },
    customerId: { type: Schema.Types.ObjectId },
    ruleId: { type: Schema.Types.ObjectId },
    raisedAt: { type: Date, required: true },
  },
  { versionKey: false, collection: 'alerts' },
);
alertSchema.index({ raisedAt: -1, _id: -1 });

export const Alert = mongoose.model<AlertDoc>('Alert', alertSchema);

/**
 * Per customer, the complaints the rule consumer has seen (seq and time, the last 30 days):
 * what COMPLAINTS_LAST_7_DAYS reads, by `_id`, without scanning the interactions.
 */
export type ComplaintWindowDoc = { _id: Types.ObjectId; complaints: Array<{ seq: number; at: Date }> };

export const ComplaintWindow = mongoose.model<ComplaintWindowDoc>(
  'ComplaintWindow',
  new Schema<ComplaintWindowDoc>(
    { _id: Schema.Types.ObjectId, complaints: { type: Schema.Types.Mixed, default: [] } },
    { versionKey: false, collection: 'complaint_windows' },
  ),
);

/** Complaints per hour (`_id` = the hour, ISO): the anomaly alert's history, read by `_id`. */
export type ComplaintHourDoc = { _id: string; n: number; lastSeq: number };

export const ComplaintHour = mongoose.model<ComplaintHourDoc>(
  'ComplaintHour',
  new Schema<ComplaintHourDoc>(
    { _id: String, n: { type: Number, required: true }, lastSeq: { type: Number, required: true } },
    { versionKey: false, collection: 'complaint_hours' },
  ),
);

/** The last automated message per customer: the frequency cap's compare-and-set. */
export type MessageCapDoc = { _id: Types.ObjectId; lastSentAt: Date; jobId: string; previousSentAt?: Date | null };

export const MessageCap = mongoose.model<MessageCapDoc>(
  'MessageCap',
  new Schema<MessageCapDoc>(
    {
      _id: Schema.Types.ObjectId,
      lastSentAt: { type: Date, required: true },
      jobId: { type: String },
      previousSentAt: { type: Date },
    },
    { versionKey: false, collection: 'automation_message_caps' },
  ),
);

export { storedCollection };

export function jobId(ruleId: Types.ObjectId | string, runKey: string, step: number | 'matched'): string {
  return `${String(ruleId)}:${runKey}:${step}`;
}
