import type { Config } from '../config.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { createCustomersService } from './customers/service.js';
import { EventLog } from './events/log.js';
import { createInteractionsService } from './interactions/service.js';
import { createSegmentsService } from './segments/service.js';

/** Every domain service of one API process, wired to each other once. */
export function createDomain(deps: { config: Config; clock: Clock; logger: Logger }) {
  const { config, clock, logger } = deps;
  const events = new EventLog({ clock, logger });
  const segments = createSegmentsService({ clock, logger, events, currency: config.currency });
  const customers = createCustomersService({
    clock,
    currency: config.currency,
    region: config.defaultRegion,
    segments,
  });
  const interactions = createInteractionsService({ clock, logger, currency: config.currency, events, segments });
  return { currency: config.currency, events, segments, customers, interactions };
}

export type Domain = ReturnType<typeof createDomain>;
