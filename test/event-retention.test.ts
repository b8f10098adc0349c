/**
 * Retention: the event log keeps a window (EVENT_RETENTION_MS) of what every durable consumer
 * has handled; a replay from before it is refused with CURSOR_EXPIRED and the oldest cursor
 * still served, never answered with a silent gap. Finished automation work, settled webhook
 * deliveries and audit entries have windows of their own; pending work is never removed. The
 * server runs on a manual clock: the windows pass when the test moves it, and the retention job
 * runs when the test asks.
 */
import { describe, expect, it } from '@jest/globals';
import type { Client } from 'graphql-ws';
import mongoose, { Types } from 'mongoose';
import { loadConfig } from '../src/config.js';
import { DAY_MS, ManualClock } from '../src/shared/clock.js';
import { createCustomer } from './helpers/crm.js';
import { eventually } from './helpers/process.js';
import { takeSubscription, useTestServer, type SharedTestServer } from './helpers/server.js';

const SEGMENT_CHANGES = 'subscription($after: String) { segmentChanged(after: $after) { customer { name } cursor } }';
type SegmentChange = { segmentChanged: { customer: { name: string }; cursor: string } };
type Outcome = {
  data?: SegmentChange | null;
  errors?: Array<{ message: string; extensions?: Record<string, unknown> }>;
};

const WINDOW_MS = 2_000;
const FINISHED_WORK_WINDOW_MS = 60_000;

/** Creates a customer and returns the cursor of the event that says so (its move into NEW). */
async function createCustomerWithCursor(t: SharedTestServer, name: string): Promise<string> {
  const isSubscribed = t.subscriptionsStarted();
  const live = takeSubscription<SegmentChange>(t.wsClient(), SEGMENT_CHANGES, 1);
  await isSubscribed;
  await createCustomer(t, { name });
  const [change] = await live;
  expect(change?.data?.segmentChanged.customer.name).toBe(name);
  return change!.data!.segmentChanged.cursor;
}

/** The first thing a replay from `after` answers: an event, or the errors it ended with. */
function firstOutcome(client: Client, after: string): Promise<Outcome> {
  return new Promise((resolve) => {
    const stop = client.subscribe<SegmentChange>(
      { query: SEGMENT_CHANGES, variables: { after } },
      {
        next: (result) => {
          stop();
          resolve(result as Outcome);
        },
        error: (errors) => resolve({ errors: errors as Outcome['errors'] }),
        complete: () => resolve({}),
      },
    );
  });
}

/** The customers of a replay from `after`, up to and with `last`. */
function replayUntil(client: Client, after: string, last: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const names: string[] = [];
    const stop = client.subscribe<SegmentChange>(
      { query: SEGMENT_CHANGES, variables: { after } },
      {
        next: (result) => {
          if (result.errors) return reject(new Error(JSON.stringify(result.errors)));
          names.push(result.data!.segmentChanged.customer.name);
          if (names.at(-1) === last) {
            stop();
            resolve(names);
          }
        },
        error: reject,
        complete: () => reject(new Error(`completed after ${names.join(', ')}`)),
      },
    );
  });
}

describe('event retention', () => {
  const clock = new ManualClock();
  const t = useTestServer({
    clock,
    env: {
      EVENT_RETENTION_MS: String(WINDOW_MS),
      EVENT_PRUNE_INTERVAL_MS: '500',
      JOB_RETENTION_MS: String(FINISHED_WORK_WINDOW_MS),
      WEBHOOK_DELIVERY_RETENTION_MS: String(FINISHED_WORK_WINDOW_MS),
      AUDIT_RETENTION_MS: String(FINISHED_WORK_WINDOW_MS),
    },
  });
  const prune = () => t.server.jobs.get('prune-retention')!.runNow();

  async function oldestEvent(): Promise<{ cursor: string; at: string } | null> {
    const res = await t.graphql<{ systemStatus: { oldestEvent: { cursor: string; at: string } | null } }>(
      '{ systemStatus { oldestEvent { cursor at } } }',
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.systemStatus.oldestEvent;
  }

  it('refuses a cursor from before the window with CURSOR_EXPIRED and the oldest cursor, which replays what is kept', async () => {
    const first = await createCustomerWithCursor(t, 'Expired First');
    await createCustomer(t, { name: 'Expired Second' });
    await t.settle();
    clock.advance(WINDOW_MS + 1_000);
    await createCustomer(t, { name: 'Kept Young' });
    await t.settle();
    await prune();

    const refused = await firstOutcome(t.wsClient(), first);
    expect(refused.data ?? null).toBeNull();
    expect(refused.errors).toEqual([
      expect.objectContaining({
        extensions: expect.objectContaining({ code: 'CURSOR_EXPIRED', oldestCursor: expect.any(String) }),
      }),
    ]);
    const oldestCursor = refused.errors![0]!.extensions!.oldestCursor as string;
    expect(await oldestEvent()).toEqual({ cursor: oldestCursor, at: clock.now().toISOString() });

    const replayed = await replayUntil(t.wsClient(), oldestCursor, 'Kept Young');
    expect(replayed).toEqual(['Kept Young']);
  });

  it('keeps the events a durable consumer has not handled, however old, and removes them once it has', async () => {
    const webhooks = t.server.domain.consumers.find((c) => c.name === 'webhooks')!;
    const others = t.server.domain.consumers.filter((c) => c !== webhooks);
    await webhooks.stop();
    try {
      await createCustomer(t, { name: 'Unhandled' });
      await Promise.all(others.map((c) => c.whenCaughtUp()));
      clock.advance(WINDOW_MS + 1_000);
      await createCustomer(t, { name: 'After Unhandled' });
      await Promise.all(others.map((c) => c.whenCaughtUp()));
      await prune();
      const kept = await oldestEvent();
      expect(await replayUntil(t.wsClient(), kept!.cursor, 'After Unhandled')).toEqual([
        'Unhandled',
        'After Unhandled',
      ]);
    } finally {
      webhooks.start();
    }
    const before = (await oldestEvent())!.cursor;
    await t.settle();
    await prune();
    const refused = await firstOutcome(t.wsClient(), before);
    expect(refused.errors?.[0]?.extensions?.code).toBe('CURSOR_EXPIRED');
  });

  it('removes events with deletes the engine answers from the `_id` index', async () => {
    for (let i = 0; i < 5; i++) await createCustomer(t, { name: `Indexed ${i}` });
    await t.settle();
    clock.advance(WINDOW_MS + 1_000);
    await createCustomer(t, { name: 'Indexed Young' });
    await t.settle();

    const client = mongoose.connection.getClient();
    const sent: Array<Record<string, unknown>> = [];
    const listener = (e: { commandName: string; command: Record<string, unknown> }) => {
      if (e.command[e.commandName] !== 'events') return;
      if (e.commandName === 'find') sent.push(e.command.filter as Record<string, unknown>);
      if (e.commandName === 'delete') for (const d of e.command.deletes as Array<{ q: object }>) sent.push({ ...d.q });
    };
    client.on('commandStarted', listener);
    try {
      await prune();
    } finally {
      client.off('commandStarted', listener);
    }
    expect(sent.some((filter) => typeof filter._id === 'object' && '$in' in filter._id!)).toBe(true);
    for (const filter of sent) {
      const plan = await mongoose.connection.db!.command({ explain: { find: 'events', filter } });
      const lines = (plan.queryPlanner as { Plan: string[] }).Plan.join('\n');
      const shape = JSON.stringify(filter).slice(0, 120);
      expect({ shape, lines }).toEqual({ shape, lines: expect.stringMatching(/USING (COVERING )?INDEX|PRIMARY KEY/) });
      expect({ shape, lines }).not.toEqual({ shape, lines: expect.stringMatching(/SCAN \S+$/m) });
    }
  });

  it('removes finished automation work, settled deliveries and audit entries past their windows, never pending work', async () => {
    const db = mongoose.connection.db!;
    const now = clock.now().getTime();
    const old = new Date(now - FINISHED_WORK_WINDOW_MS - 60_000);
    const recent = new Date(now - 1_000);
    const leased = new Date(Date.now() + 365 * DAY_MS); // no worker claims these meanwhile
    const rule = new Types.ObjectId().toHexString();
    const job = (id: string, status: string, at: Date, causeType = 'SEGMENT_CHANGED') => ({
      _id: id,
      ruleId: new Types.ObjectId(rule),
      step: 0,
      customerId: new Types.ObjectId(),
      runAt: at,
      status,
      attempts: 5,
      leaseUntil: leased,
      cause: { type: causeType, seq: 1, at },
    });
    await db
      .collection('automation_jobs')
      .insertMany([
        job(`${rule}:e1:0`, 'FAILED', old),
        job(`${rule}:e1:1`, 'PENDING', old),
        job(`${rule}:e1:2`, 'FAILED', recent),
        job(`${rule}:i${rule}:5:0`, 'FAILED', old, 'INACTIVE_FOR'),
      ] as never[]);
    await db.collection('automation_steps_done').insertMany([
      { _id: `${rule}:e1:3`, outcome: 'executed', at: old },
      { _id: `loop:${rule}:1`, outcome: 'skipped', at: old },
      { _id: `${rule}:e1:4`, outcome: 'executed', at: recent },
      { _id: `${rule}:i${rule}:5:1`, outcome: 'executed', at: old },
      { _id: `${rule}:e999999999:0`, outcome: 'executed', at: old },
      { _id: `${rule}:e1:matched`, outcome: 'matched', at: old },
      { _id: `${rule}:i${rule}:5:matched`, outcome: 'matched', at: old },
    ] as never[]);
    const delivery = (id: string, status: string, at: Date) => ({
      _id: id,
      endpointId: new Types.ObjectId(),
      eventType: 'SEGMENT_CHANGED',
      payload: '{}',
      status,
      attempts: 1,
      nextAttemptAt: at,
      retryUntil: at,
      leaseUntil: leased,
      createdAt: at,
      ...(status === 'SUCCEEDED' ? { deliveredAt: at } : {}),
    });
    await db
      .collection('webhook_deliveries')
      .insertMany([
        delivery('delivered-long-ago', 'SUCCEEDED', old),
        delivery('given-up-long-ago', 'FAILED', old),
        delivery('delivered-just-now', 'SUCCEEDED', recent),
        delivery('pending-long-ago', 'PENDING', old),
      ] as never[]);
    const audited = { actorId: null, actorRole: null, operation: null, fields: [], targetIds: [], input: '{}' };
    const audit = { ...audited, changes: [], outcome: 'OK', codes: [], requestId: 'r', transport: 'HTTP' };
    await db.collection('audit_log').insertMany([
      { ...audit, requestId: 'audited-long-ago', at: old },
      { ...audit, requestId: 'audited-just-now', at: recent },
    ]);

    await prune();

    const ids = async (name: string, filter: object = {}) =>
      (await db.collection(name).find(filter).project({ _id: 1 }).toArray()).map((d) => String(d._id)).sort();
    expect(await ids('automation_jobs', { ruleId: new Types.ObjectId(rule) })).toEqual(
      [`${rule}:e1:1`, `${rule}:e1:2`, `${rule}:i${rule}:5:0`].sort(),
    );
    expect(await ids('automation_steps_done', { _id: { $regex: rule } })).toEqual(
      [`${rule}:e1:4`, `${rule}:i${rule}:5:1`, `${rule}:i${rule}:5:matched`, `${rule}:e999999999:0`].sort(),
    );
    expect(
      await ids('webhook_deliveries', {
        _id: { $in: ['delivered-long-ago', 'given-up-long-ago', 'delivered-just-now', 'pending-long-ago'] },
      }),
    ).toEqual(['delivered-just-now', 'pending-long-ago']);
    const requests = (
      await db
        .collection('audit_log')
        .find({ requestId: /audited-/ })
        .toArray()
    ).map((e) => e.requestId);
    expect(requests).toEqual(['audited-just-now']);
  });

  it('reports the oldest kept event and the database size in systemStatus', async () => {
    const res = await t.graphql<{
      systemStatus: { oldestEvent: { cursor: string; at: string } | null; database: { sizeBytes: number | null } };
    }>('{ systemStatus { oldestEvent { cursor at } database { sizeBytes } } }');
    expect(res.body.errors).toBeUndefined();
    const status = res.body.data!.systemStatus;
    expect(status.oldestEvent).toEqual({ cursor: expect.any(String), at: expect.any(String) });
    expect(status.database.sizeBytes).toBeGreaterThan(0);
  });
});

describe('event retention on the real clock', () => {
  const t = useTestServer({ env: { EVENT_RETENTION_MS: String(WINDOW_MS), EVENT_PRUNE_INTERVAL_MS: '500' } });

  it('expires a cursor from the first events a few seconds later, by the job running every 500 ms', async () => {
    const first = await createCustomerWithCursor(t, 'Soon Expired');
    await createCustomer(t, { name: 'Soon Expired Too' });
    await createCustomer(t, { name: 'Newest' });
    await t.settle();
    const client = t.wsClient();
    const refused = await eventually(
      () => firstOutcome(client, first),
      (outcome) => outcome.errors?.[0]?.extensions?.code === 'CURSOR_EXPIRED',
      WINDOW_MS + 10_000,
    );
    const oldestCursor = refused.errors![0]!.extensions!.oldestCursor as string;
    expect(await replayUntil(client, oldestCursor, 'Newest')).toEqual(['Newest']);
  });
});

describe('retention settings', () => {
  it('keep events 7 days, pruned every 10 minutes; finished work 30 days; audit entries forever', () => {
    expect(loadConfig({}).retention).toEqual({
      eventsMs: 7 * DAY_MS,
      pruneIntervalMs: 600_000,
      finishedJobsMs: 30 * DAY_MS,
      settledDeliveriesMs: 30 * DAY_MS,
      auditMs: 0,
    });
    expect(() => loadConfig({ EVENT_RETENTION_MS: 'a week' })).toThrow(/EVENT_RETENTION_MS/);
    expect(() => loadConfig({ EVENT_PRUNE_INTERVAL_MS: '-1' })).toThrow(/EVENT_PRUNE_INTERVAL_MS/);
  });
});
