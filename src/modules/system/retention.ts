import type { RetentionSettings } from '../../config.js';
import { slowestConsumer } from '../../events/consumer.js';
import type { EventLog } from '../../events/log.js';
import { logEventPrune, pruneEvents, type EventPruneOutcome } from '../../events/retention.js';
import type { Logger } from '../../shared/logger.js';
import { pruneAuditEntries } from '../audit/index.js';
import { pruneFinishedAutomationWork, type AutomationPruneOutcome } from '../automation/index.js';
import { pruneSettledWebhookDeliveries } from '../webhooks/index.js';

export type RetentionOutcome = {
  events: EventPruneOutcome;
  automation: AutomationPruneOutcome;
  webhookDeliveries: number;
  auditEntries: number;
};

/**
 * One run of the retention job: the events past EVENT_RETENTION_MS that every durable consumer
 * has handled, then finished automation work, settled webhook deliveries and (only when
 * AUDIT_RETENTION_MS is set) audit entries past their own windows; a window of 0 keeps
 * everything. Time comes from the event log's clock, the one events are stamped with.
 */
export async function pruneRetainedData(deps: {
  events: EventLog;
  logger: Logger;
  settings: RetentionSettings;
}): Promise<RetentionOutcome> {
  const { settings, logger } = deps;
  const events = await pruneEvents({ events: deps.events, retentionMs: settings.eventsMs });
  logEventPrune(logger, events);
  const now = deps.events.clock.now().getTime();
  const before = (ms: number) => new Date(now - ms);
  const handledUpTo = (await slowestConsumer())?.position ?? 0;
  const outcome: RetentionOutcome = {
    events,
    automation: settings.finishedJobsMs
      ? await pruneFinishedAutomationWork({ before: before(settings.finishedJobsMs), handledUpTo })
      : { failedSteps: 0, stepRecords: 0 },
    webhookDeliveries: settings.settledDeliveriesMs
      ? await pruneSettledWebhookDeliveries({ before: before(settings.settledDeliveriesMs) })
      : 0,
    auditEntries: settings.auditMs ? await pruneAuditEntries(before(settings.auditMs)) : 0,
  };
  const { automation, webhookDeliveries, auditEntries } = outcome;
  if (automation.failedSteps || automation.stepRecords || webhookDeliveries || auditEntries)
    logger.info({ automation, webhookDeliveries, auditEntries }, 'retention removed finished work');
  return outcome;
}
