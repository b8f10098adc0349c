import type { Resolvers } from '../../generated/graphql.js';
import { userInputError } from '../../graphql/errors.js';
import { eventCursor } from '../../graphql/event-stream.js';
import { readSystemStatus, STATUS_INTERVAL_SECONDS, watchSystemStatus, type SystemStatusSnapshot } from './service.js';

export const resolvers = {
  Query: {
    systemStatus: (_parent, _args, ctx) => readSystemStatus(ctx.runtime, ctx.clock, ctx.domain.events),
  },
  Subscription: {
    systemStatus: {
      subscribe: (_parent, { intervalSeconds }, ctx) => {
        const seconds = intervalSeconds ?? 5;
        if (seconds < STATUS_INTERVAL_SECONDS.min || seconds > STATUS_INTERVAL_SECONDS.max) {
          throw userInputError(
            `intervalSeconds must be between ${STATUS_INTERVAL_SECONDS.min} and ${STATUS_INTERVAL_SECONDS.max}`,
            'intervalSeconds',
          );
        }
        return watchSystemStatus(ctx.runtime, ctx.clock, ctx.domain.events, seconds);
      },
      resolve: (payload: SystemStatusSnapshot) => payload,
    },
  },
  SystemStatus: {
    // The cursor just before the oldest event: a replay after it begins with that event.
    oldestEvent: ({ oldestEvent }) => oldestEvent && { cursor: eventCursor(oldestEvent.seq - 1), at: oldestEvent.at },
  },
} satisfies Resolvers;
