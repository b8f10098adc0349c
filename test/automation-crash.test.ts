/**
 * Exactly-once rule execution across processes: two worker instances share one database while
 * customers are created; the one consuming the event log is killed with SIGKILL mid-stream, the
 * other takes over from the stored position, and every (rule, event) has run exactly once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import mongoose from 'mongoose';
import { Job, Rule, Task } from '../src/modules/automation/model.js';
import { Consumer, LogConsumer } from '../src/events/consumer.js';
import { createLogger } from '../src/shared/logger.js';
import { eventually, spawnEntryPoint, withDeadline, type ApiProcess } from './helpers/process.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const CUSTOMERS = 240;

describe('automation across a SIGKILL and two instances', () => {
  let t: TestServer;
  const workers: ApiProcess[] = [];
  let ruleId: mongoose.Types.ObjectId;
  /** The rule consumer, read through this server: its stored position is the instances' progress. */
  const ruleConsumer = () => t.server.domain.consumers.find((c) => c.name === 'automation-rules')!;

  beforeAll(async () => {
    // The in-process server serves the API only; the spawned instances do the background work.
    t = await startTestServer({ env: { BACKGROUND_WORKERS: 'false' } });
    // The rule exists before the instances start, so none works from a rules cache without it.
    const created = await t.graphql<{ createAutomationRule: { rule: { id: string } } }>(
      `mutation { createAutomationRule(input: {
         name: "Call every new customer",
         trigger: { type: CUSTOMER_CREATED },
         actions: [{ type: CREATE_TASK, department: SUPPORT, title: "Call the new customer" }]
       }) { rule { id } userErrors { message } } }`,
    );
    ruleId = new mongoose.Types.ObjectId(
      Buffer.from(created.body.data!.createAutomationRule.rule.id, 'base64url').toString().split(':')[1],
    );
    for (let i = 0; i < 2; i++)
      workers.push(
        spawnEntryPoint('src/main.ts', {
          MONGODB_URI: process.env.MONGODB_URI,
          MONGODB_DB: t.dbName,
          AUTOMATION_LEASE_MS: '1500',
          AUTOMATION_POLL_MS: '50',
        }),
      );
    for (const w of workers) await w.waitForLine(/ready at/);
    // An instance took the rule consumer's place at the end of the log: no customer below is before it.
    await withDeadline(ruleConsumer().whenCaughtUp(), 30_000, 'an instance starting the rule consumer');
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null && w.child.signalCode === null) w.child.kill('SIGTERM');
    await Promise.all(workers.map((w) => w.exited));
    await t.stop();
  });

  it('runs each rule once per event, whoever consumes and whatever dies', async () => {
    const createSome = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        const res = await t.graphql(
          `mutation { createCustomer(input: { name: "Newcomer ${i}" }) { customer { id } } }`,
        );
        expect(res.body.errors).toBeUndefined();
      }
    };
    await createSome(0, CUSTOMERS / 2);
    await eventually(
      () => Task.countDocuments({ ruleId }),
      (n) => n >= CUSTOMERS / 4,
      30_000,
    );

    // Kill the instance that holds the rule consumer's lease, mid-stream.
    const lease = await eventually(
      () => Consumer.findById('automation-rules').lean(),
      (l) => workers.some((w) => l?.leaseOwner?.split(':')[1] === String(w.child.pid)),
    );
    const leaderPid = Number(lease!.leaseOwner!.split(':')[1]);
    const leader = workers.find((w) => w.child.pid === leaderPid)!;
    leader.child.kill('SIGKILL');
    await leader.exited;
    await createSome(CUSTOMERS / 2, CUSTOMERS);

    await eventually(
      () => Task.countDocuments({ ruleId }),
      (n) => n >= CUSTOMERS,
      60_000,
    );
    // Nothing more can arrive: the rule consumer has handled every event of the log (whichever
    // instance holds it; the position is stored) and no step of the rule is left to run.
    await withDeadline(ruleConsumer().whenCaughtUp(), 30_000, 'the rule consumer reaching the end of the log');
    await eventually(
      () => Job.countDocuments({ ruleId }),
      (n) => n === 0,
      30_000,
    );
    const tasks = await Task.find({ ruleId }).select({ customerId: 1 }).lean();
    expect(tasks).toHaveLength(CUSTOMERS);
    expect(new Set(tasks.map((x) => String(x.customerId))).size).toBe(CUSTOMERS);
    // The counters move after the effect they count, in a separate write: a process killed
    // between the two leaves one uncounted (never counted twice). The effects above are exact.
    const rule = await Rule.findById(ruleId).lean();
    expect(rule!.stats.matched).toBeGreaterThanOrEqual(CUSTOMERS - 1);
    expect(rule!.stats.matched).toBeLessThanOrEqual(CUSTOMERS);
    expect(rule!.stats.executed).toBeGreaterThanOrEqual(CUSTOMERS - 1);
    expect(rule!.stats.executed).toBeLessThanOrEqual(CUSTOMERS);
    const survivor = await Consumer.findById('automation-rules').lean();
    expect(survivor!.leaseOwner).not.toContain(`:${leaderPid}:`);
  }, 180_000);

  it('stops a consumer at once when told to while it is still claiming its lease', async () => {
    // A process signalled the moment it is ready stops its consumers mid-claim: once hung until
    // an event came (none does on a quiet log), and the shutdown timed out.
    const consumer = new LogConsumer({
      name: 'stopped-while-claiming',
      events: t.server.domain.events,
      logger: createLogger('silent'),
      leaseMs: 60_000,
      handle: async () => undefined,
    });
    consumer.start();
    await withDeadline(consumer.stop(), 10_000, 'a consumer stopped while claiming its lease');
    expect(await Consumer.findById('stopped-while-claiming').lean()).toMatchObject({ leaseOwner: null });
  });

  it('never handles an event while a flush of the events before it is under way', async () => {
    let isFlushing = false;
    let overlaps = 0;
    let handledCount = 0;
    let hasAppendedDuringFlush = false;
    const consumer = new LogConsumer({
      name: 'takes-turns',
      events: t.server.domain.events,
      logger: createLogger('silent'),
      leaseMs: 60_000,
      handle: async () => {
        if (isFlushing) overlaps++;
        handledCount++;
      },
      flush: async () => {
        isFlushing = true;
        try {
          if (hasAppendedDuringFlush) return;
          hasAppendedDuringFlush = true;
          // An event appended while this flush writes: its handling waits for the flush's end.
          const res = await t.graphql(
            'mutation { createCustomer(input: { name: "During A Flush" }) { customer { id } } }',
          );
          expect(res.body.errors).toBeUndefined();
          for (let i = 0; i < 50; i++) await new Promise(setImmediate);
        } finally {
          isFlushing = false;
        }
      },
    });
    consumer.start();
    try {
      await withDeadline(consumer.whenCaughtUp(), 10_000, 'the consumer starting');
      const res = await t.graphql('mutation { createCustomer(input: { name: "Before A Flush" }) { customer { id } } }');
      expect(res.body.errors).toBeUndefined();
      await withDeadline(consumer.whenCaughtUp(), 10_000, 'the consumer handling the first event');
      await withDeadline(consumer.whenCaughtUp(), 10_000, 'the consumer handling the event appended during the flush');
      expect(hasAppendedDuringFlush).toBe(true);
      expect(handledCount).toBeGreaterThanOrEqual(2);
      expect(overlaps).toBe(0);
    } finally {
      await consumer.stop();
    }
  });
});
