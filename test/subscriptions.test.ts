/**
 * Live segment changes and the omnichannel timeline over graphql-ws, fed by the durable event
 * log: across server processes, and with `after` replaying exactly what a client missed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from 'graphql-ws';
import { createClient } from 'graphql-ws';
import mongoose from 'mongoose';
import WebSocket from 'ws';
import { nextSequence } from '../src/db/counters.js';
import { eventId } from '../src/events/model.js';
import { createCustomer, recordInteraction, recordPurchase } from './helpers/crm.js';
import { eventually, spawnEntryPoint, withDeadline, type ApiProcess } from './helpers/process.js';
import { useTestServer, type TestServer } from './helpers/server.js';

type SegmentEvent = {
  segmentChanged: {
    customer: { id: string; name: string; segment: string };
    from: string | null;
    to: string;
    reason: string;
    cursor: string;
  };
};
type TimelineEvent = {
  interactionRecorded: { interaction: { id: string; type: string; customer: { name: string } }; cursor: string };
};

/** Subscribes and collects results as they arrive; `waitFor(n)` resolves once n have arrived. */
function collect<T>(client: Client, query: string, variables?: Record<string, unknown>) {
  const items: T[] = [];
  const watchers = new Set<() => void>();
  let failure: unknown;
  const tell = () => {
    for (const watcher of [...watchers]) watcher();
  };
  const unsubscribe = client.subscribe<T>(
    { query, variables },
    {
      next: (r) => {
        if (r.errors) failure = r.errors;
        else items.push(r.data as T);
        tell();
      },
      error: (e) => {
        failure = e;
        tell();
      },
      complete: () => {},
    },
  );
  return {
    items,
    unsubscribe,
    waitFor(count: number, timeoutMs = 10_000): Promise<T[]> {
      return new Promise<T[]>((resolve, reject) => {
        const finish = (err?: Error) => {
          clearTimeout(timer);
          watchers.delete(check);
          if (err) reject(err);
          else resolve(items.slice(0, count));
        };
        const check = () => {
          if (failure) finish(new Error(`subscription failed: ${JSON.stringify(failure)}`));
          else if (items.length >= count) finish();
        };
        const timer = setTimeout(
          () =>
            finish(
              new Error(`only ${items.length} of ${count} events within ${timeoutMs} ms: ${JSON.stringify(items)}`),
            ),
          timeoutMs,
        );
        watchers.add(check);
        check();
      });
    },
  };
}

const SEGMENT_CHANGED = `subscription($segments: [Segment!], $customerId: ID, $after: String) {
  segmentChanged(segments: $segments, customerId: $customerId, after: $after) { customer { id name segment } from to reason cursor }
}`;

/**
 * Resolves once the subscription receives what happens from now on: once the server started it
 * (`isStarted`; a subscription starts from "now" only after its WebSocket handshake), a probe
 * customer is created and its event awaited, so that events from before are behind it too.
 * The subscription must include NEW.
 */
async function subscribed(
  t: TestServer,
  sub: ReturnType<typeof collect<SegmentEvent>>,
  probeName: string,
  isStarted: Promise<void>,
) {
  await isStarted;
  await createCustomer(t, { name: probeName });
  const deadline = Date.now() + 10_000;
  while (!sub.items.some((e) => e.segmentChanged.customer.name === probeName)) {
    if (Date.now() > deadline) throw new Error(`the probe ${probeName} never arrived`);
    await sub.waitFor(sub.items.length + 1, deadline - Date.now());
  }
}

/**
 * Resolves once this process's event-log tailer has looked up the event at `seq` `times` times
 * from now on. The tailer reads from one seq at a time (that seq, or it and those after it in one
 * `$in`): a lookup that starts means the one before it came back, so while that event is
 * unwritten, every lookup but the last found nothing.
 */
function tailerLookups(seq: number, times: number): Promise<void> {
  const client = mongoose.connection.getClient();
  const id = eventId(seq);
  const looked = new Promise<void>((resolve) => {
    let seen = 0;
    const count = (e: { commandName: string; command: Record<string, unknown> }) => {
      if (e.commandName !== 'find' || e.command.find !== 'events') return;
      const wanted = (e.command.filter as { _id?: unknown } | undefined)?._id;
      const firstWanted = (wanted as { $in?: unknown[] } | undefined)?.$in?.[0] ?? wanted;
      if (firstWanted !== id) return;
      if (++seen < times) return;
      client.off('commandStarted', count);
      resolve();
    };
    client.on('commandStarted', count);
  });
  return withDeadline(looked, 10_000, `the tailer looking for event ${seq} ${times} times`);
}

describe('subscriptions', () => {
  const t = useTestServer();

  it('tells a subscriber when a purchase makes a customer VIP', async () => {
    const c = await createCustomer(t, { name: 'Soon VIP' });
    const isStarted = t.subscriptionsStarted();
    const sub = collect<SegmentEvent>(t.wsClient(), SEGMENT_CHANGED, { segments: ['VIP', 'NEW'] });
    await subscribed(t, sub, 'VIP Probe', isStarted);
    const start = sub.items.length;
    await recordPurchase(t, { customerId: c.id, amount: '1500000' });
    const events = await sub.waitFor(start + 1);
    expect(events[start]!.segmentChanged).toMatchObject({
      customer: { id: c.id, name: 'Soon VIP', segment: 'VIP' },
      from: 'NEW',
      to: 'VIP',
      reason: 'INTERACTION',
    });
    sub.unsubscribe();
  });

  it('streams the timeline, filtered by customer and type', async () => {
    const c = await createCustomer(t, { name: 'Timeline Fan' });
    const other = await createCustomer(t, { name: 'Someone Else' });
    const isStarted = t.subscriptionsStarted();
    const sub = collect<TimelineEvent>(
      t.wsClient(),
      'subscription($id: ID) { interactionRecorded(customerId: $id, types: [COMPLAINT, PURCHASE]) { interaction { id type customer { name } } cursor } }',
      { id: c.id },
    );
    // Live once the server started it: a probe recorded from then on arrives.
    await isStarted;
    await recordInteraction(t, { customerId: c.id, type: 'COMPLAINT', channel: 'PHONE', description: 'probe' });
    await sub.waitFor(1);
    const start = sub.items.length;
    await recordInteraction(t, { customerId: other.id, type: 'COMPLAINT', channel: 'PHONE' });
    await recordInteraction(t, { customerId: c.id, type: 'INQUIRY', channel: 'WEB' });
    const purchase = await recordPurchase(t, { customerId: c.id, amount: '3000' });
    const events = await sub.waitFor(start + 1);
    expect(events[start]!.interactionRecorded.interaction).toEqual({
      id: purchase.interaction!.id,
      type: 'PURCHASE',
      customer: { name: 'Timeline Fan' },
    });
    sub.unsubscribe();
  });

  it('publishes one event per interaction of a batch, in order', async () => {
    const c = await createCustomer(t, { name: 'Batch Watcher' });
    const isStarted = t.subscriptionsStarted();
    const sub = collect<TimelineEvent>(
      t.wsClient(),
      'subscription($id: ID) { interactionRecorded(customerId: $id) { interaction { id type customer { name } } cursor } }',
      { id: c.id },
    );
    await isStarted;
    await recordInteraction(t, { customerId: c.id, type: 'INQUIRY', channel: 'WEB', description: 'probe' });
    await sub.waitFor(1);
    const start = sub.items.length;
    const inputs = Array.from({ length: 10 }, (_, i) => ({
      customerId: c.id,
      type: 'SUPPORT',
      channel: 'APP',
      description: `batch ${i}`,
    }));
    const res = await t.graphql<{ recordInteractions: { results: Array<{ interaction: { id: string } }> } }>(
      'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { results { interaction { id } } } }',
      { inputs },
    );
    const ids = res.body.data!.recordInteractions.results.map((r) => r.interaction.id);
    const events = await sub.waitFor(start + 10);
    expect(events.slice(start).map((e) => e.interactionRecorded.interaction.id)).toEqual(ids);
    sub.unsubscribe();
  });

  it('a client that reconnects with `after` receives exactly the events it missed, then live ones', async () => {
    const client = t.wsClient();
    const isStarted = t.subscriptionsStarted();
    const first = collect<SegmentEvent>(client, SEGMENT_CHANGED, { segments: ['NEW'] });
    await subscribed(t, first, 'Before Disconnect', isStarted);
    const lastSeen = first.items.at(-1)!.segmentChanged.cursor;
    first.unsubscribe();

    // While the client is away: three customers join.
    const missed = [];
    for (const name of ['Missed One', 'Missed Two', 'Missed Three']) missed.push(await createCustomer(t, { name }));

    const second = collect<SegmentEvent>(t.wsClient(), SEGMENT_CHANGED, { segments: ['NEW'], after: lastSeen });
    const replayed = await second.waitFor(3);
    expect(replayed.map((e) => e.segmentChanged.customer.name)).toEqual(['Missed One', 'Missed Two', 'Missed Three']);
    await createCustomer(t, { name: 'Live After Replay' });
    const all = await second.waitFor(4);
    expect(all.map((e) => e.segmentChanged.customer.name)).toEqual([
      'Missed One',
      'Missed Two',
      'Missed Three',
      'Live After Replay',
    ]);
    // Nothing repeated, nothing more: the next event it receives is the next one in the log.
    await createCustomer(t, { name: 'Next After Replay' });
    await second.waitFor(5);
    expect(second.items.map((e) => e.segmentChanged.customer.name)).toEqual([
      'Missed One',
      'Missed Two',
      'Missed Three',
      'Live After Replay',
      'Next After Replay',
    ]);
    second.unsubscribe();
  });

  it('waits for an event that becomes visible after a later one, instead of skipping it', async () => {
    const isStarted = t.subscriptionsStarted();
    const sub = collect<SegmentEvent>(t.wsClient(), SEGMENT_CHANGED, { segments: ['NEW'] });
    await subscribed(t, sub, 'Order Probe', isStarted);
    const start = sub.items.length;
    // A slow writer: it has allocated its seq but not written its event yet…
    const slowSeq = await nextSequence('events');
    // …while a fast writer appends the next one.
    await createCustomer(t, { name: 'Fast Writer' });
    // The tailer has looked for the missing event again since the later one was written, found
    // nothing, and stays before it: the later event is held back, not skipped to.
    await tailerLookups(slowSeq, 2);
    expect(t.server.domain.events.position).toBe(slowSeq - 1);
    expect(sub.items).toHaveLength(start);
    const customer = { _id: new mongoose.Types.ObjectId(), name: 'Slow Writer', segment: 'NEW', code: 'C99999' };
    await mongoose.connection.db!.collection('events').insertOne({
      _id: String(slowSeq).padStart(15, '0') as never,
      seq: slowSeq,
      type: 'SEGMENT_CHANGED',
      at: new Date(),
      payload: {
        customer: {
          ...customer,
          tags: [],
          searchKeys: [],
          nameLower: 'slow writer',
          segmentChangedAt: new Date(),
          totalPurchasesMinor: 0,
          purchaseCount: 0,
          interactionCount: 0,
          lastInteractionSortAt: new Date(0),
          activityAt: new Date(),
          joinedAt: new Date(),
          rev: 0,
          createdAt: new Date(),
          updatedAt: new Date(),
        },
        from: null,
        to: 'NEW',
        changedAt: new Date(),
        reason: 'CREATED',
      },
    });
    const events = await sub.waitFor(start + 2);
    expect(events.slice(start).map((e) => e.segmentChanged.customer.name)).toEqual(['Slow Writer', 'Fast Writer']);
    sub.unsubscribe();
  });

  it('skips a seq whose writer died, after a bounded wait, and goes on', async () => {
    const isStarted = t.subscriptionsStarted();
    const sub = collect<SegmentEvent>(t.wsClient(), SEGMENT_CHANGED, { segments: ['NEW'] });
    await subscribed(t, sub, 'Gap Probe', isStarted);
    const start = sub.items.length;
    await nextSequence('events'); // allocated by a writer that then died
    await createCustomer(t, { name: 'After The Gap' });
    const events = await sub.waitFor(start + 1, 15_000);
    expect(events[start]!.segmentChanged.customer.name).toBe('After The Gap');
  });

  it('resolves an event once for many subscribers of the same subscription', async () => {
    const query = `subscription { segmentChanged(segments: [NEW]) { customer { name interactions(first: 1) { edges { node { id } } } } to } }`;
    type Fanned = { segmentChanged: { customer: { name: string } } };
    const areStarted = t.subscriptionsStarted(20);
    const subs = Array.from({ length: 20 }, () => collect<Fanned>(t.wsClient(), query));
    // Live for all of them once the server started them: a probe reaches every subscriber.
    await areStarted;
    await createCustomer(t, { name: 'Fan Probe' });
    await Promise.all(subs.map((s) => s.waitFor(1)));
    const start = subs.map((s) => s.items.length);
    const client = mongoose.connection.getClient();
    let timelineReads = 0;
    const count = (e: { commandName: string; command: Record<string, unknown> }) => {
      if (e.commandName === 'find' && e.command.find === 'interactions') timelineReads++;
    };
    client.on('commandStarted', count);
    try {
      await createCustomer(t, { name: 'Fanned Out' });
      await Promise.all(subs.map((s, i) => s.waitFor(start[i]! + 1)));
    } finally {
      client.off('commandStarted', count);
    }
    for (const [i, s] of subs.entries()) expect(s.items[start[i]!]!.segmentChanged.customer.name).toBe('Fanned Out');
    expect(timelineReads).toBe(1);
    subs.forEach((s) => s.unsubscribe());
  });

  describe('across server processes', () => {
    let other: ApiProcess;
    beforeAll(async () => {
      other = spawnEntryPoint('src/main.ts', { MONGODB_URI: process.env.MONGODB_URI, MONGODB_DB: t.dbName });
      await other.waitForLine(/ready at/);
    });
    afterAll(async () => {
      other.child.kill('SIGTERM');
      await other.exited;
    });

    it('a subscriber on a second server process receives the change made through the first', async () => {
      const [, url] = (await other.waitForLine(/ready at (http:\/\/\S+)\n/))!;
      const client = createClient({
        url: url!.replace(/^http/, 'ws'),
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        connectionParams: { authorization: `Bearer ${t.adminToken}` },
      });
      try {
        const sub = collect<SegmentEvent>(client, SEGMENT_CHANGED, { segments: ['VIP', 'NEW'] });
        // The other process runs only this subscription: its status counts it once it started.
        const isStarted = eventually(
          async () => {
            const res = await fetch(url!, {
              method: 'POST',
              headers: { 'content-type': 'application/json', authorization: `Bearer ${t.adminToken}` },
              body: JSON.stringify({ query: '{ systemStatus { activeSubscriptions } }' }),
            });
            return ((await res.json()) as { data: { systemStatus: { activeSubscriptions: number } } }).data;
          },
          (data) => data.systemStatus.activeSubscriptions === 1,
        ).then(() => undefined);
        await subscribed(t, sub, 'Cross Process Probe', isStarted);
        const start = sub.items.length;
        const c = await createCustomer(t, { name: 'Cross Process VIP' });
        await recordPurchase(t, { customerId: c.id, amount: '5000000' });
        const events = await sub.waitFor(start + 2);
        expect(events.slice(start).map((e) => [e.segmentChanged.customer.name, e.segmentChanged.to])).toEqual([
          ['Cross Process VIP', 'NEW'],
          ['Cross Process VIP', 'VIP'],
        ]);
      } finally {
        await client.dispose();
      }
    });
  });
});
