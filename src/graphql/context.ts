import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import type { ServerRuntime } from '../shared/runtime.js';

/** What every resolver receives, over HTTP and over WebSocket alike. */
export type GraphQLContext = {
  requestId: string;
  logger: Logger;
  clock: Clock;
  runtime: ServerRuntime;
};
