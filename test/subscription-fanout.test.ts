/**
 * The fan-out rule on its own: one execution per distinct live subscription, a bounded buffer
 * per subscriber. The end-to-end behaviour over graphql-ws is in subscriptions.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { makeExecutableSchema } from '@graphql-tools/schema';
import { Repeater } from '@repeaterjs/repeater';
import { parse, type ExecutionResult } from 'graphql';
import { createSubscriptionFanout, SUBSCRIBER_BUFFER } from '../src/graphql/subscription-fanout.js';

function tickerSchema() {
  let push: ((n: number) => Promise<unknown>) | undefined;
  let sources = 0;
  let resolved = 0;
  const schema = makeExecutableSchema({
    typeDefs: 'type Query { ok: Boolean } type Subscription { tick(after: String): Int }',
    resolvers: {
      Subscription: {
        tick: {
          subscribe: () => {
            sources++;
            return new Repeater<number>(async (p, stop) => {
              push = p;
              await stop;
            });
          },
          resolve: (n: number) => {
            resolved++;
            return n;
          },
        },
      },
    },
  });
  return { schema, emit: (n: number) => push!(n), counts: () => ({ sources, resolved }) };
}

describe('subscription fan-out', () => {
  it('resolves each event once for all subscribers of one operation', async () => {
    const { schema, emit, counts } = tickerSchema();
    const subscribe = createSubscriptionFanout({ audienceOf: () => 'all', shareableFields: new Set(['tick']) });
    const document = parse('subscription { tick }');
    const streams = (await Promise.all(
      Array.from({ length: 20 }, () => subscribe({ schema, document })),
    )) as AsyncIterableIterator<ExecutionResult>[];
    const firsts = streams.map((s) => s.next());
    await emit(7);
    expect((await Promise.all(firsts)).map((r) => r.value)).toEqual(
      Array.from({ length: 20 }, () => ({ data: { tick: 7 } })),
    );
    expect(counts()).toEqual({ sources: 1, resolved: 1 });
    await Promise.all(streams.map((s) => s.return?.()));
  });

  it('does not share a replay that starts from a cursor', async () => {
    const { schema, counts } = tickerSchema();
    const subscribe = createSubscriptionFanout({ audienceOf: () => 'all', shareableFields: new Set(['tick']) });
    const document = parse('subscription($after: String) { tick(after: $after) }');
    const a = (await subscribe({
      schema,
      document,
      variableValues: { after: 'x' },
    })) as AsyncIterableIterator<ExecutionResult>;
    const b = (await subscribe({
      schema,
      document,
      variableValues: { after: 'x' },
    })) as AsyncIterableIterator<ExecutionResult>;
    expect(counts().sources).toBe(2);
    await a.return?.();
    await b.return?.();
  });

  it('drops a subscriber that falls a whole buffer behind, and keeps serving the others', async () => {
    const { schema, emit } = tickerSchema();
    const subscribe = createSubscriptionFanout({ audienceOf: () => 'all', shareableFields: new Set(['tick']) });
    const document = parse('subscription { tick }');
    const slow = (await subscribe({ schema, document })) as AsyncIterableIterator<ExecutionResult>;
    const fast = (await subscribe({ schema, document })) as AsyncIterableIterator<ExecutionResult>;
    // Like graphql-ws, each subscriber asks for its first result at once; the slow one never
    // asks again (its socket stopped draining).
    const slowFirst = slow.next();
    const fastSeen: unknown[] = [];
    let fastNext = fast.next();
    for (let n = 0; n < SUBSCRIBER_BUFFER + 3; n++) {
      await emit(n);
      fastSeen.push((await fastNext).value);
      fastNext = fast.next();
    }
    expect(fastSeen).toHaveLength(SUBSCRIBER_BUFFER + 3);
    expect((await slowFirst).value).toEqual({ data: { tick: 0 } });
    // The slow one gets what its buffer held, then the error that dropped it.
    let received = 1;
    await expect(
      (async () => {
        for await (const result of slow) if (result) received++;
      })(),
    ).rejects.toThrow(/fell 256 results behind/);
    expect(received).toBeGreaterThanOrEqual(SUBSCRIBER_BUFFER);
    expect(received).toBeLessThan(SUBSCRIBER_BUFFER + 3);
    await fast.return?.();
  });

  it('sends a result serialised once straight to a waiting subscriber, else through its queue, in order', async () => {
    const { schema, emit } = tickerSchema();
    const sent: string[] = [];
    const declining = new Set(['b']);
    const subscribe = createSubscriptionFanout({
      audienceOf: () => 'all',
      shareableFields: new Set(['tick']),
      sendSerialized: (args, json) => {
        const who = args.contextValue as string;
        if (declining.has(who)) return false;
        sent.push(`${who} ${json}`);
        return true;
      },
    });
    const document = parse('subscription { tick }');
    const [a, b, c] = (await Promise.all(
      ['a', 'b', 'c'].map((contextValue) => subscribe({ schema, document, contextValue })),
    )) as AsyncIterableIterator<ExecutionResult>[];
    const sentCount = async (n: number) => {
      while (sent.length < n) await new Promise(setImmediate);
    };
    // a and b wait for a result; c does not (its reader is still busy with an earlier one).
    const aFirst = a!.next();
    const bFirst = b!.next();
    await emit(1);
    await sentCount(1);
    // a: straight to its transport; b: declined there, so through its queue; c: queued.
    expect(sent).toEqual(['a {"data":{"tick":1}}']);
    expect((await bFirst).value).toEqual({ data: { tick: 1 } });
    expect((await c!.next()).value).toEqual({ data: { tick: 1 } });
    // c waits now: the next result goes straight to it, after the one its queue gave it.
    const cSecond = c!.next();
    const bSecond = b!.next();
    await emit(2);
    await sentCount(3);
    expect(sent.slice(1).sort()).toEqual(['a {"data":{"tick":2}}', 'c {"data":{"tick":2}}']);
    expect((await bSecond).value).toEqual({ data: { tick: 2 } });
    // Nothing reached a or c through their queues: their reads still wait.
    const pending = Symbol('pending');
    const settled = await Promise.race([aFirst, cSecond, new Promise((r) => setImmediate(() => r(pending)))]);
    expect(settled).toBe(pending);
    await Promise.all([a, b, c].map((s) => s!.return?.()));
  });
});
