import type { ApolloServerPlugin } from '@apollo/server';
import type { Metrics } from '../../shared/metrics.js';
import type { ServerRuntime } from '../../shared/runtime.js';
import type { GraphQLContext } from '../context.js';

/** Distinct operation names given a series of their own; later ones are counted as `other`. */
const OPERATION_NAMES_MAX = 200;

/** Observes each GraphQL-over-HTTP operation's latency, and counts errors by code. */
export function metricsPlugin(metrics: Metrics, runtime: ServerRuntime): ApolloServerPlugin<GraphQLContext> {
  // Clients choose operation names: without a bound, one sending a new name per request would
  // grow the metrics without end.
  const named = new Set<string>();
  const labelOf = (operationName: string | undefined): string => {
    if (!operationName || !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(operationName)) return 'anonymous';
    if (named.has(operationName)) return operationName;
    if (named.size >= OPERATION_NAMES_MAX) return 'other';
    named.add(operationName);
    return operationName;
  };
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
            // Bounded label values: a name that looks like one, among the first few hundred seen.
            operation_name: labelOf(operationName ?? undefined),
            outcome: errors?.length ? 'error' : 'success',
          });
        },
      };
    },
  };
}
