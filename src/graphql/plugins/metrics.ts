import type { ApolloServerPlugin } from '@apollo/server';
import type { Metrics } from '../../shared/metrics.js';
import type { ServerRuntime } from '../../shared/runtime.js';
import type { GraphQLContext } from '../context.js';

/** Observes each GraphQL-over-HTTP operation's latency, and counts errors by code. */
export function metricsPlugin(metrics: Metrics, runtime: ServerRuntime): ApolloServerPlugin<GraphQLContext> {
  return {
    async requestDidStart() {
      const endTimer = metrics.graphqlOperationDuration.startTimer();
      const started = performance.now();
      runtime.inFlightRequests++;
      return {
        async willSendResponse({ operation, operationName, response }) {
          runtime.inFlightRequests--;
          const errors = response.body.kind === 'single' ? response.body.singleResult.errors : undefined;
          runtime.requests.record(performance.now() - started, Boolean(errors?.length));
          for (const e of errors ?? []) metrics.graphqlErrors.inc({ code: String(e.extensions?.code ?? 'UNKNOWN') });
          endTimer({
            operation_type: operation?.operation ?? 'unknown',
            // Bounded label values: a client-chosen name is kept only when it looks like one.
            operation_name:
              operationName && /^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(operationName) ? operationName : 'anonymous',
            outcome: errors?.length ? 'error' : 'success',
          });
        },
      };
    },
  };
}
