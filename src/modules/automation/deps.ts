import type { Config } from '../../config.js';
import type { EventLog } from '../../events/log.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { InteractionsService } from '../interactions/service.js';
import type { WebhooksService } from '../webhooks/service.js';
import type { PublishedAlerts } from './alerts.js';
import type { ComplaintBook } from './complaints.js';
import type { RunBook } from './jobs.js';
import type { RuleDoc } from './model.js';

export type AutomationSettings = Config['automation'];

/** What the composition root gives the automation domain. */
export type AutomationDeps = {
  clock: Clock;
  logger: Logger;
  events: EventLog;
  interactions: Pick<InteractionsService, 'recordInteraction'>;
  webhooks: Pick<WebhooksService, 'enqueue' | 'endpointCallCheck'>;
  currency: string;
  settings: AutomationSettings;
  campaignWebhook: Config['campaigns']['webhook'];
};

/** The enabled rules as the rule consumer reads them; `changed()` after every write of a rule. */
export type RuleCache = { enabled(): Promise<RuleDoc[]>; changed(): void };

/**
 * What the domain's functions are bound to: the deps and its state in this process, the rule
 * cache, the alerts known to be published and the rule consumer's complaint book and runs to
 * schedule.
 */
export type Automation = AutomationDeps & {
  rules: RuleCache;
  publishedAlerts: PublishedAlerts;
  complaints: ComplaintBook;
  runs: RunBook;
};
