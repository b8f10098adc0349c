import mongoose, { Types } from 'mongoose';
import { allInOneBatch } from '../../db/collections.js';
import { DAY_MS } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { notFound, type FieldProblem } from '../../shared/problems.js';
import { createTtlCache } from '../../shared/ttl-cache.js';
import type { CustomerDoc } from '../customers/model.js';
import { streamCustomers } from '../customers/index.js';
import { complaintWindows } from './complaints.js';
import { allHold, daysSinceLastInteraction } from './conditions.js';
import type { Automation, RuleCache } from './deps.js';
import { DEFAULT_JOURNEYS } from './journeys.js';
import { Job, Rule, storedCollection, type RuleDoc, type RuleStatsDoc } from './model.js';
import { parseRule, type RuleInput } from './rule-input.js';

const DRY_RUN_SAMPLE = 20;
const EMPTY_STATS: RuleStatsDoc = { matched: 0, executed: 0, skipped: 0, failed: 0, loopsStopped: 0 };

/** A rule written, or why not. */
export type RuleResult = { rule: RuleDoc; problems?: undefined } | { problems: FieldProblem[]; rule?: undefined };

/** The enabled rules, read per event: cached for a second (another process's change shows within it). */
export function createRuleCache(): RuleCache {
  const cache = createTtlCache(1_000, () => listRules(true));
  return { enabled: () => cache.get(), changed: () => cache.invalidate() };
}

export async function listRules(enabled?: boolean | null): Promise<RuleDoc[]> {
  const filter = enabled == null ? {} : { enabled };
  return Rule.find(filter).sort({ createdAt: 1, _id: 1 }).lean<RuleDoc[]>();
}

export async function findRule(id: string): Promise<RuleDoc | null> {
  const _id = objectIdOrNull(id);
  return _id ? Rule.findById(_id).lean<RuleDoc>() : null;
}

/** The rules with these ids, in the order asked, null where there is none (a DataLoader's batch). */
export async function findRules(ids: readonly string[]): Promise<Array<RuleDoc | null>> {
  const valid = ids.filter((id) => objectIdOrNull(id) !== null);
  const docs = valid.length
    ? await Rule.find({ _id: mongoose.trusted({ $in: valid }) })
        .batchSize(allInOneBatch(valid.length))
        .lean<RuleDoc[]>()
    : [];
  const byId = new Map(docs.map((d) => [String(d._id), d]));
  return ids.map((id) => byId.get(id) ?? null);
}

/** Creates a rule (`id` null) or replaces one's definition, keeping its stats. */
export async function saveRule(
  deps: Pick<Automation, 'clock' | 'currency' | 'webhooks' | 'rules'>,
  id: string | null,
  input: RuleInput,
): Promise<RuleResult> {
  // Webhook endpoint ids arrive as local ids (the resolver translates global ones).
  const endpointProblem = await deps.webhooks.endpointCallCheck();
  const parsed = parseRule(input, deps.currency, endpointProblem);
  if ('problems' in parsed) return parsed;
  const now = deps.clock.now();
  if (id === null) {
    const rule: RuleDoc = {
      _id: new Types.ObjectId(),
      ...parsed.rule,
      stats: { ...EMPTY_STATS },
      createdAt: now,
      updatedAt: now,
    };
    await storedCollection<RuleDoc>(Rule).insertOne(rule);
    deps.rules.changed(); // after the write: the next event sees the rule
    return { rule };
  }
  const _id = objectIdOrNull(id);
  const rule =
    _id &&
    (await Rule.findOneAndUpdate(
      { _id },
      { $set: { ...parsed.rule, updatedAt: now } },
      { returnDocument: 'after' },
    ).lean<RuleDoc>());
  deps.rules.changed();
  return rule ? { rule } : notFound('rule');
}

export async function deleteRule(deps: Pick<Automation, 'rules'>, id: string): Promise<RuleResult> {
  const _id = objectIdOrNull(id);
  const deleted = _id && (await Rule.findOneAndDelete({ _id }).lean<RuleDoc>());
  deps.rules.changed();
  // Its pending steps go with it (the step worker also drops steps of unknown rules).
  if (deleted) await Job.deleteMany({ ruleId: _id });
  return deleted ? { rule: deleted } : notFound('rule');
}

/** The default journeys, installed once on an empty rules collection (editable afterwards). */
export async function installDefaultJourneys(deps: Pick<Automation, 'clock' | 'currency'>): Promise<void> {
  if (await Rule.exists({})) return;
  const now = deps.clock.now();
  for (const journey of DEFAULT_JOURNEYS) {
    const parsed = parseRule(journey.rule, deps.currency, () => ({ message: 'no endpoint', code: 'INVALID' }));
    if ('problems' in parsed) throw new Error(`default journey ${journey.name}: ${JSON.stringify(parsed.problems)}`);
    await storedCollection<RuleDoc>(Rule).insertOne({
      _id: new Types.ObjectId(),
      ...parsed.rule,
      journey: journey.name,
      stats: { ...EMPTY_STATS },
      createdAt: now,
      updatedAt: now,
    });
  }
}

/** Moves one of a rule's counters. */
export async function bumpStats(ruleId: Types.ObjectId, field: keyof RuleStatsDoc, by = 1): Promise<void> {
  await Rule.updateOne({ _id: ruleId }, { $inc: { [`stats.${field}`]: by } });
}

/** The customers a stored rule (`ruleId`) or a rule as given (`rule`) matches now; changes nothing. */
export async function dryRunRule(
  deps: Pick<Automation, 'clock' | 'currency'>,
  input: { ruleId?: string | null; rule?: RuleInput | null },
): Promise<{ matchedCount: number; sample: CustomerDoc[] } | { problems: FieldProblem[] }> {
  if (input.rule) {
    const parsed = parseRule(input.rule, deps.currency, () => null);
    if ('problems' in parsed) return parsed;
    return dryRun(parsed.rule, deps.clock.now());
  }
  const rule = await findRule(input.ruleId ?? '');
  return rule ? dryRun(rule, deps.clock.now()) : notFound('rule', 'ruleId');
}

/**
 * Which customers a rule's conditions (and an INACTIVE_FOR trigger's days) match at `at`: one
 * pass over the customers (a scan on the embedded engine), evaluated in TypeScript like the
 * rule consumer does.
 */
async function dryRun(
  rule: Pick<RuleDoc, 'trigger' | 'conditions'>,
  at: Date,
): Promise<{ matchedCount: number; sample: CustomerDoc[] }> {
  let matchedCount = 0;
  const sample: CustomerDoc[] = [];
  const needsComplaints = rule.conditions.some((c) => c.field === 'COMPLAINTS_LAST_7_DAYS');
  const windows = needsComplaints ? await complaintWindows() : new Map<string, Array<{ at: Date }>>();
  for await (const customer of streamCustomers({}, { batchSize: 1_000 })) {
    if (rule.trigger.type === 'INACTIVE_FOR' && daysSinceLastInteraction(customer, at) < rule.trigger.inactiveDays!)
      continue;
    const matches = await allHold(rule.conditions, {
      customer,
      at,
      complaintsLast7Days: async () =>
        (windows.get(String(customer._id)) ?? []).filter((c) => c.at.getTime() > at.getTime() - 7 * DAY_MS).length,
    });
    if (!matches) continue;
    matchedCount++;
    if (sample.length < DRY_RUN_SAMPLE) sample.push(customer);
  }
  return { matchedCount, sample };
}
