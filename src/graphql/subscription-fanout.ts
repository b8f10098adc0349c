import {
  getOperationAST,
  GraphQLError,
  Kind,
  print,
  subscribe,
  visit,
  type DocumentNode,
  type ExecutionArgs,
  type ExecutionResult,
} from 'graphql';
import { SubscriberQueue } from './subscriber-queue.js';

type Listener = { args: ExecutionArgs; queue: SubscriberQueue };
type Shared = { listeners: Set<Listener>; source: AsyncIterator<ExecutionResult> };
type SharedSlot = Promise<Shared | ExecutionResult>;

/** How many results a subscriber may fall behind before it is dropped. */
export const SUBSCRIBER_BUFFER = 256;

export class SlowSubscriberError extends Error {
  override name = 'SlowSubscriberError';
}

function rootFieldsOf(args: ExecutionArgs): string[] {
  const operation = getOperationAST(args.document, args.operationName);
  return (operation?.selectionSet.selections ?? []).map((s) => (s.kind === Kind.FIELD ? s.name.value : '…'));
}

/** True when any `after:` argument in the operation has a value (literal or variable). */
function hasAfterCursor(document: DocumentNode, variables: Record<string, unknown>): boolean {
  let found = false;
  visit(document, {
    Argument(node) {
      if (node.name.value !== 'after') return;
      const v = node.value;
      if (v.kind === Kind.VARIABLE ? variables[v.name.value] != null : v.kind !== Kind.NULL) found = true;
    },
  });
  return found;
}

function isAsyncIterator(v: unknown): v is AsyncIterator<ExecutionResult> {
  return typeof (v as AsyncIterator<ExecutionResult>)?.next === 'function';
}

/**
 * Subscriptions with the same operation and variables, that start from now (no `after`),
 * share one execution: every event is resolved once per distinct subscription, not once per
 * subscriber, and the result is handed to each. Each subscriber has a bounded buffer; one that
 * falls SUBSCRIBER_BUFFER results behind is dropped with an error instead of growing memory.
 */
export function createSubscriptionFanout(opts: {
  /** Who may see the same results (role, masking): subscribers share only within one audience. */
  audienceOf: (args: ExecutionArgs) => string;
  /** Root fields whose streams are the same for every subscriber from the moment they join. */
  shareableFields: ReadonlySet<string>;
  /** Checked for each subscriber before each result (an expired token stops its events). */
  isStillAllowed?: (args: ExecutionArgs) => boolean;
  /**
   * Sends a result serialised once for all subscribers straight to one of them; false when it
   * must go through the subscriber's queue (and the transport's own checks) instead.
   */
  sendSerialized?: (args: ExecutionArgs, json: string) => boolean;
}) {
  const shared = new Map<string, SharedSlot>();

  async function startShared(key: string, args: ExecutionArgs): Promise<Shared | ExecutionResult> {
    const result = await subscribe(args);
    if (!isAsyncIterator(result)) return result;
    const entry: Shared = { listeners: new Set(), source: result };
    pump(key, entry);
    return entry;
  }

  function pump(key: string, entry: Shared): void {
    const slot = shared.get(key);
    void (async () => {
      try {
        for (;;) {
          const { value, done } = await entry.source.next();
          if (done) break;
          // Serialised once for every subscriber; a result with errors is formatted per subscriber.
          const json = opts.sendSerialized && !value.errors?.length ? JSON.stringify(value) : undefined;
          for (const l of entry.listeners) {
            if (opts.isStillAllowed && !opts.isStillAllowed(l.args)) {
              l.queue.endWith({
                errors: [
                  new GraphQLError('Your token has expired: sign in again.', {
                    extensions: { code: 'UNAUTHENTICATED' },
                  }),
                ],
              });
              continue;
            }
            // Straight to the socket only when nothing of this subscriber's waits: order is kept.
            if (json !== undefined && l.queue.isIdle() && opts.sendSerialized!(l.args, json)) continue;
            if (!l.queue.offer(value))
              l.queue.end(new SlowSubscriberError(`subscriber fell ${SUBSCRIBER_BUFFER} results behind: dropped`));
          }
        }
        for (const l of entry.listeners) l.queue.end();
      } catch (err) {
        for (const l of entry.listeners) l.queue.end(err);
      } finally {
        if (slot && shared.get(key) === slot) shared.delete(key);
      }
    })();
  }

  return async function subscribeShared(args: ExecutionArgs) {
    const variables = args.variableValues ?? {};
    // A replay (`after`) has a starting point of its own, and a stream that opens with a
    // snapshot (systemStatus) owes each subscriber its own first value: neither is shared.
    if (!rootFieldsOf(args).every((f) => opts.shareableFields.has(f)) || hasAfterCursor(args.document, variables)) {
      return subscribe(args);
    }
    const document = print(args.document);
    const key = `${opts.audienceOf(args)}\u0000${args.operationName ?? ''}\u0000${document}\u0000${JSON.stringify(variables)}`;

    // The map holds the promise at once, so subscribers arriving together share one source.
    let pending = shared.get(key);
    if (!pending) {
      pending = startShared(key, args);
      shared.set(key, pending);
    }
    const entry = await pending;
    if (!('listeners' in entry)) {
      if (shared.get(key) === pending) shared.delete(key);
      return entry; // an error: nothing to share
    }
    const ownPending = pending;
    const listener: Listener = {
      args,
      queue: new SubscriberQueue(SUBSCRIBER_BUFFER, () => {
        entry.listeners.delete(listener);
        if (entry.listeners.size === 0 && shared.get(key) === ownPending) {
          shared.delete(key);
          // The last subscriber left: the shared execution ends, and with it the log subscription.
          Promise.resolve(entry.source.return?.()).catch(() => undefined);
        }
      }),
    };
    entry.listeners.add(listener);
    return listener.queue;
  };
}
