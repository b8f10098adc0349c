import type { EventDoc } from '../../events/model.js';
import type { CustomerDoc } from '../customers/model.js';
import type { InteractionRecordedPayload } from '../interactions/events.js';
import type { SegmentChangedPayload } from '../segments/events.js';
import { raiseAlert } from './alerts.js';
import { complaintsInWeek, complaintsInWeekAmong, noteComplaint } from './complaints.js';
import { allHold } from './conditions.js';
import type { Automation } from './deps.js';
import { hourOf } from './hours.js';
import { type Causation, type RuleDoc, type TriggerDoc, recordStepOnce } from './model.js';
import { bumpStats } from './rules.js';

/** A chain of rule-caused events longer than this is stopped whatever the rules. */
const MAX_CAUSATION_DEPTH = 3;

/** What happened, as a rule trigger sees it. */
type Occurrence = { customer: CustomerDoc; at: Date; seq: number; causedBy: Causation | null } & (
  | { trigger: 'SEGMENT_CHANGED' | 'CUSTOMER_CREATED'; segmentChange: SegmentChangedPayload }
  | { trigger: 'INTERACTION_RECORDED' | 'PURCHASE_RECORDED'; interaction: InteractionRecordedPayload['interaction'] }
);

/**
 * The rule consumer's handler: every rule the event matches gets one run. Loops are stopped
 * here: events caused by a rule's step carry the chain of rules behind them; a rule never acts
 * on an event its own steps caused, and no chain goes deeper than MAX_CAUSATION_DEPTH.
 */
export async function handleEvent(
  deps: Pick<Automation, 'clock' | 'events' | 'settings' | 'rules' | 'publishedAlerts' | 'complaints' | 'runs'>,
  event: EventDoc,
): Promise<void> {
  const occurrences = occurrencesOf(event);
  if (!occurrences.length) return;
  // A complaint's customer's complaints, as kept once this one was noted: what its rules count.
  const kept =
    event.type === 'INTERACTION_RECORDED' && event.payload.interaction.type === 'COMPLAINT'
      ? await noteComplaint(deps, {
          customerId: event.payload.customer._id,
          seq: event.seq,
          at: event.at,
          occurredAt: event.payload.interaction.occurredAt,
        })
      : null;
  const rules = await deps.rules.enabled();
  for (const o of occurrences) {
    for (const rule of rules) {
      if (!triggerMatches(rule.trigger, o)) continue;
      if (o.causedBy?.ruleIds.includes(String(rule._id)) || (o.causedBy?.depth ?? 0) >= MAX_CAUSATION_DEPTH) {
        await stopLoop(deps, rule, o);
        continue;
      }
      const matches = await allHold(rule.conditions, {
        customer: o.customer,
        at: o.at,
        complaintsLast7Days: async () =>
          kept ? complaintsInWeekAmong(kept, o.at, o.seq) : complaintsInWeek(o.customer._id, o.at, o.seq),
      });
      if (!matches) continue;
      // Scheduled with the burst's other runs when the consumer flushes, after the complaint
      // book (a step that reads the complaint windows finds what was noted so far).
      deps.runs.add({ rule, runKey: `e${o.seq}`, cause: { ...o, type: o.trigger } });
    }
  }
}

function occurrencesOf(event: EventDoc): Occurrence[] {
  const base = { at: event.at, seq: event.seq };
  switch (event.type) {
    case 'SEGMENT_CHANGED': {
      const change = event.payload;
      const trigger = change.reason === 'CREATED' ? 'CUSTOMER_CREATED' : 'SEGMENT_CHANGED';
      return [{ ...base, trigger, customer: change.customer, causedBy: null, segmentChange: change }];
    }
    case 'INTERACTION_RECORDED': {
      const { interaction, customer, causedBy } = event.payload;
      const common = { ...base, customer, causedBy: causedBy ?? null, interaction };
      return [
        { ...common, trigger: 'INTERACTION_RECORDED' },
        ...(interaction.type === 'PURCHASE' ? [{ ...common, trigger: 'PURCHASE_RECORDED' as const }] : []),
      ];
    }
    default:
      return [];
  }
}

function triggerMatches(t: TriggerDoc, o: Occurrence): boolean {
  if (t.type !== o.trigger) return false;
  switch (o.trigger) {
    case 'SEGMENT_CHANGED': {
      const { from, to } = o.segmentChange;
      return (
        (!t.fromSegments?.length || (from != null && t.fromSegments.includes(from))) &&
        (!t.toSegments?.length || t.toSegments.includes(to))
      );
    }
    case 'INTERACTION_RECORDED':
      return (
        (!t.interactionTypes?.length || t.interactionTypes.includes(o.interaction.type)) &&
        (!t.channels?.length || t.channels.includes(o.interaction.channel))
      );
    case 'PURCHASE_RECORDED': {
      const amount = o.interaction.amountMinor ?? 0;
      return (
        (!t.channels?.length || t.channels.includes(o.interaction.channel)) &&
        (t.minAmountMinor == null || amount >= t.minAmountMinor) &&
        (t.maxAmountMinor == null || amount <= t.maxAmountMinor)
      );
    }
    default:
      return true;
  }
}

/** Counts a stopped loop once per (rule, event), even when the event is handled again, and alerts once an hour. */
async function stopLoop(
  deps: Pick<Automation, 'clock' | 'events' | 'publishedAlerts'>,
  rule: RuleDoc,
  o: Occurrence,
): Promise<void> {
  const id = String(rule._id);
  const isFirst = await recordStepOnce({ _id: `loop:${id}:${o.seq}`, outcome: 'skipped', at: o.at });
  if (isFirst) await bumpStats(rule._id, 'loopsStopped');
  await raiseAlert(deps, {
    _id: `loop:${id}:${hourOf(o.at)}`,
    title: `Automation "${rule.name}" was stopped from acting on an event its own actions caused`,
    severity: 'WARNING',
    departments: ['MARKETING'],
    kind: 'LOOP',
    ruleId: rule._id,
    raisedAt: deps.clock.now(),
  });
}
