import type { Config } from '../../config.js';
import type { EventLog } from '../../events/log.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';

/** What the campaigns service is wired with at the composition root. */
export type CampaignsDeps = {
  clock: Clock;
  logger: Logger;
  events: EventLog;
  settings: Config['campaigns'];
  /** Called when a campaign becomes due, so this process's runner starts it at once. */
  onDue?: () => void;
};
