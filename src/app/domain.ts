import { randomBytes } from 'node:crypto';
import type { Config } from '../config.js';
import type { Clock } from '../shared/clock.js';
import { createCursorSealer } from '../shared/cursors.js';
import type { Logger } from '../shared/logger.js';
import { LogConsumer } from '../events/consumer.js';
import { EventLog } from '../events/log.js';
import { createAnalyticsService } from '../modules/analytics/index.js';
import { createAuditService } from '../modules/audit/index.js';
import { createAutomationService } from '../modules/automation/index.js';
import { CampaignRunner, createCampaignsService } from '../modules/campaigns/index.js';
import {
  createCustomersService,
  eraseCustomer,
  eventPersonalData,
  mergeCustomers,
  streamCustomers,
} from '../modules/customers/index.js';
import { eraseRecipient } from '../modules/campaigns/index.js';
import { complaintsInWeekOf } from '../modules/automation/index.js';
import { createRfm } from '../modules/insights/index.js';
import { createInteractionsService } from '../modules/interactions/index.js';
import { createSegmentsService } from '../modules/segments/index.js';
import { createUsersService } from '../modules/users/index.js';
import { createWebhooksService } from '../modules/webhooks/index.js';

/** Every domain service of one API process, wired to each other once. */
/**
 * `jwtSecret` signs and checks bearer tokens and seals connection cursors; scripts that never
 * sign in (seed, bench) may omit it and get a random one for the process.
 */
export function createDomain(deps: { config: Config; clock: Clock; logger: Logger; jwtSecret?: Uint8Array }) {
  const { config, clock, logger } = deps;
  const events = new EventLog({ clock, logger, personalData: eventPersonalData });
  const segments = createSegmentsService({ clock, logger, events, currency: config.currency });
  const customers = createCustomersService({
    clock,
    currency: config.currency,
    region: config.defaultRegion,
    segments,
  });
  const campaigns = createCampaignsService({
    clock,
    logger,
    events,
    settings: config.campaigns,
    onDue: () => runner.wake(),
  });
  const runner = new CampaignRunner({ clock, logger, campaigns, settings: config.campaigns });
  const interactions = createInteractionsService({
    clock,
    logger,
    currency: config.currency,
    events,
    segments,
    onRecorded: (recorded) => campaigns.attributePurchases(recorded),
  });
  const webhooks = createWebhooksService({ clock, logger, currency: config.currency, settings: config.webhooks });
  const automation = createAutomationService({
    clock,
    logger,
    events,
    interactions,
    webhooks,
    currency: config.currency,
    settings: config.automation,
    campaignWebhook: config.campaigns.webhook,
  });
  const analytics = createAnalyticsService({
    clock,
    logger,
    leaseMs: config.automation.leaseMs,
    segments,
    logPosition: () => events.position,
    heldAfter: (afterSeq, toSeq) => events.heldAfter(afterSeq, toSeq),
  });
  // Each keeps its own position in the event log, one process at a time.
  const consumers = [
    new LogConsumer({
      name: 'automation-rules',
      events,
      logger,
      leaseMs: config.automation.leaseMs,
      handle: automation.handleEvent,
      flush: automation.flushRuleConsumer,
    }),
    new LogConsumer({
      name: 'webhooks',
      events,
      logger,
      leaseMs: config.automation.leaseMs,
      handle: webhooks.handleEvent,
    }),
    new LogConsumer({
      name: 'analytics',
      events,
      logger,
      leaseMs: config.automation.leaseMs,
      handle: analytics.countEvent,
      flush: analytics.flushCounts,
    }),
  ];
  const audit = createAuditService({ clock });
  // Erasing asks each owner of a store that holds personal data: interactions, campaigns, the
  // event log (every process's memory of it) and the audit log.
  const erasure = { clock, events, audit, interactions, campaigns: { eraseRecipient } };
  const customersWithMerge = {
    ...customers,
    deleteCustomer: (id: string) => eraseCustomer(erasure, id),
    mergeCustomers: (primaryId: string, duplicateId: string) =>
      mergeCustomers({ ...erasure, region: config.defaultRegion }, primaryId, duplicateId),
  };
  const secret = deps.jwtSecret ?? randomBytes(32);
  const users = createUsersService({ clock, logger, secret });
  return {
    currency: config.currency,
    events,
    segments,
    customers: customersWithMerge,
    interactions,
    users,
    audit,
    campaigns,
    campaignRunner: runner,
    webhooks,
    automation,
    consumers,
    analytics,
    rfm: createRfm({ streamCustomers }),
    insights: { clock, complaintsInWeekOf },
    cursors: createCursorSealer(secret),
  };
}

export type Domain = ReturnType<typeof createDomain>;
