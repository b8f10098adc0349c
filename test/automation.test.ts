/**
 * Automation through the public API: the default journeys end to end, the rule language,
 * frequency capping, loop protection, the complaint anomaly alert, tasks and alerts per
 * department, and outbound webhooks checked by a receiver that verifies every signature. Time
 * moves by the test's clock (delays, retries, segment thresholds), never by sleeping for it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import mongoose from 'mongoose';
import { Consumer } from '../src/events/consumer.js';
import { ManualClock } from '../src/shared/clock.js';
import { fromGlobalId } from '../src/shared/ids.js';
import { createCustomer, DAY_MS, recordInteraction, recordPurchase, sweep } from './helpers/crm.js';
import { eventually } from './helpers/process.js';
import { takeSubscription, useTestServer } from './helpers/server.js';

type UserError = { field: string[] | null; message: string; code: string };
type Rule = { id: string; name: string; journey: string | null; enabled: boolean; stats: Record<string, number> };
const RULE_FIELDS = 'id name journey enabled stats { matched executed skipped failed loopsStopped }';

describe('automation', () => {
  const clock = new ManualClock(new Date('2026-03-02T09:00:00.000Z'));
  const t = useTestServer({
    clock,
    env: {
      AUTOMATION_DEFAULT_JOURNEYS: 'true',
      AUTOMATION_POLL_MS: '30',
      AUTOMATION_LEASE_MS: '1000',
      AUTOMATION_RETRY_BASE_MS: '1000',
      COMPLAINT_ANOMALY_MIN: '4',
      AUTOMATION_INACTIVITY_INTERVAL_MS: '100',
      WEBHOOK_RETRY_BASE_MS: '1000',
      WEBHOOK_RETRY_FOR_MS: '60000',
    },
  });

  const as = async (role: 'SALES' | 'MARKETING' | 'SUPPORT' | 'ANALYST', query: string, variables = {}) =>
    t.graphql(query, variables, { authorization: `Bearer ${await t.tokenFor(role)}` });

  async function rules(): Promise<Rule[]> {
    const res = await t.graphql<{ automationRules: Rule[] }>(`{ automationRules { ${RULE_FIELDS} } }`);
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.automationRules;
  }
  const journey = async (name: string) => (await rules()).find((r) => r.journey === name)!;
  /** One run of the inactivity scan, done when it returns (the server also runs it every 100 ms). */
  const sweepInactivity = () => t.runJob('automation-inactivity');

  async function createRule(input: Record<string, unknown>): Promise<{ rule: Rule | null; userErrors: UserError[] }> {
    const res = await t.graphql<{ createAutomationRule: { rule: Rule | null; userErrors: UserError[] } }>(
      `mutation($input: AutomationRuleInput!) { createAutomationRule(input: $input) { rule { ${RULE_FIELDS} } userErrors { field message code } } }`,
      { input },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.createAutomationRule;
  }

  async function messagesTo(customerId: string): Promise<string[]> {
    const res = await t.graphql<{ customer: { interactions: { edges: Array<{ node: { description: string } }> } } }>(
      'query($id: ID!) { customer(id: $id) { interactions(types: [MARKETING], first: 50) { edges { node { description } } } } }',
      { id: customerId },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.customer.interactions.edges.map((e) => e.node.description).reverse();
  }

  async function tasks(department: string): Promise<Array<{ title: string; customer: { id: string } | null }>> {
    const res = await t.graphql<{
      tasks: { edges: Array<{ node: { title: string; customer: { id: string } | null } }> };
    }>(
      'query($d: Department) { tasks(department: $d, first: 100) { edges { node { title status dueAt customer { id } rule { name } } } } }',
      { d: department },
    );
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.tasks.edges.map((e) => e.node);
  }

  async function alerts(): Promise<Array<{ title: string; kind: string; customer: { id: string } | null }>> {
    const res = await t.graphql<{
      alerts: { edges: Array<{ node: { title: string; kind: string; customer: { id: string } | null } }> };
    }>('{ alerts(first: 100) { edges { node { title kind severity departments customer { id } } } } }');
    expect(res.body.errors).toBeUndefined();
    return res.body.data!.alerts.edges.map((e) => e.node);
  }

  it('ships the five journeys as editable rules', async () => {
    expect((await rules()).map((r) => r.journey).sort()).toEqual([
      'complaint-escalation',
      'onboarding',
      'retention',
      'vip-welcome',
      'win-back',
    ]);
  });

  describe('journeys', () => {
    it('onboarding: a welcome at once, a reminder after 7 days only without a purchase', async () => {
      const quiet = await createCustomer(t, { name: 'Quiet Newcomer' });
      const buyer = await createCustomer(t, { name: 'Eager Buyer' });
      for (const c of [quiet, buyer])
        await eventually(
          () => messagesTo(c.id),
          (m) => m.length === 1,
        );
      expect(await messagesTo(quiet.id)).toEqual(['Welcome, Quiet Newcomer! We are glad you are here.']);
      await recordPurchase(t, { customerId: buyer.id, amount: '30000' });

      clock.advance(7 * DAY_MS - 60_000); // not yet
      await t.settle(); // every step due now has run
      expect(await messagesTo(quiet.id)).toHaveLength(1);
      clock.advance(120_000);
      await eventually(
        () => messagesTo(quiet.id),
        (m) => m.length === 2,
      );
      expect((await messagesTo(quiet.id))[1]).toBe(
        'Hello Quiet Newcomer, still looking? Here is what our customers like most.',
      );
      await eventually(
        async () => (await journey('onboarding')).stats,
        (s) => s.executed === 3 && s.skipped === 1,
      );
      expect(await messagesTo(buyer.id)).toHaveLength(1);
    });

    it('VIP welcome: SALES gets a task and the customer a tag when a customer becomes VIP', async () => {
      const c = await createCustomer(t, { name: 'Big Spender' });
      await recordPurchase(t, { customerId: c.id, amount: '1500000' });
      await eventually(
        () => tasks('SALES'),
        (list) => list.some((x) => x.customer?.id === c.id),
      );
      const sales = await as(
        'SALES',
        '{ tasks(department: SALES) { totalCount edges { node { title department } } } }',
      );
      expect(JSON.stringify(sales.body.data)).toContain('New VIP: call to welcome them');
      const foreign = await as('SUPPORT', '{ tasks(department: SALES) { totalCount } }');
      expect(foreign.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      await eventually(
        async () =>
          (
            await t.graphql<{ customer: { tags: string[] } }>('query($id: ID!) { customer(id: $id) { tags } }', {
              id: c.id,
            })
          ).body.data!.customer.tags,
        (tags) => tags.includes('vip-welcomed'),
      );
    });

    it('complaint escalation: a second complaint within 7 days makes a SUPPORT task and an alert, live', async () => {
      const c = await createCustomer(t, { name: 'Unhappy Customer' });
      const support = t.wsClient({ connectionParams: { authorization: `Bearer ${await t.tokenFor('SUPPORT')}` } });
      const isSubscribed = t.subscriptionsStarted();
      const live = takeSubscription<{ alertRaised: { title: string; kind: string } }>(
        support,
        'subscription { alertRaised(departments: [SUPPORT]) { title kind severity customer { name } } }',
        1,
      );
      await isSubscribed;
      await recordInteraction(t, {
        customerId: c.id,
        type: 'COMPLAINT',
        channel: 'PHONE',
        description: 'late delivery',
      });
      await t.settle(); // the complaint went through the rules and their steps
      expect((await tasks('SUPPORT')).filter((x) => x.customer?.id === c.id)).toEqual([]);
      clock.advance(3 * DAY_MS);
      await recordInteraction(t, { customerId: c.id, type: 'COMPLAINT', channel: 'WEB', description: 'broken item' });
      await eventually(
        () => tasks('SUPPORT'),
        (list) => list.some((x) => x.customer?.id === c.id),
      );
      const [event] = await live;
      expect(event!.data!.alertRaised.kind).toBe('RULE');
      expect(event!.data!.alertRaised.title).toMatch(/^Repeated complaints — C\d+$/);
    });

    it('complaint escalation counts the complaints of one batch among themselves: two escalate, one does not', async () => {
      const [twice, once] = await Promise.all([
        createCustomer(t, { name: 'Batch Complainer Twice' }),
        createCustomer(t, { name: 'Batch Complainer Once' }),
      ]);
      const complaint = (customerId: string) => ({ customerId, type: 'COMPLAINT', channel: 'WEB' });
      const res = await t.graphql<{ recordInteractions: { recordedCount: number } }>(
        'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount } }',
        { inputs: [complaint(twice.id), complaint(once.id), complaint(twice.id)] },
      );
      expect(res.body.data?.recordInteractions.recordedCount).toBe(3);
      await t.settle(); // the three complaints went through the rules and their steps
      const support = await tasks('SUPPORT');
      expect(support.filter((x) => x.customer?.id === twice.id)).toHaveLength(1);
      expect(support.filter((x) => x.customer?.id === once.id)).toEqual([]);
    });

    it("keeps counting a customer's complaints when the book is written between two of them", async () => {
      // A rule whose step reads the complaint windows makes the consumer write what it noted
      // before it schedules the run: here between the two complaints of one batch.
      const { rule } = await createRule({
        name: 'Tag an inquiry after a complaint',
        trigger: { type: 'INTERACTION_RECORDED', interactionTypes: ['INQUIRY'] },
        actions: [
          {
            type: 'ADD_TAG',
            tag: 'asked-after-complaint',
            onlyIf: [{ field: 'COMPLAINTS_LAST_7_DAYS', operator: 'GTE', value: '1' }],
          },
        ],
      });
      try {
        const [twice, asking] = await Promise.all([
          createCustomer(t, { name: 'Complains Around An Inquiry' }),
          createCustomer(t, { name: 'Asks In Between' }),
        ]);
        const res = await t.graphql<{ recordInteractions: { recordedCount: number } }>(
          'mutation($inputs: [RecordInteractionInput!]!) { recordInteractions(inputs: $inputs) { recordedCount } }',
          {
            inputs: [
              { customerId: twice.id, type: 'COMPLAINT', channel: 'WEB' },
              { customerId: asking.id, type: 'INQUIRY', channel: 'WEB' },
              { customerId: twice.id, type: 'COMPLAINT', channel: 'WEB' },
            ],
          },
        );
        expect(res.body.data?.recordInteractions.recordedCount).toBe(3);
        await t.settle();
        expect((await tasks('SUPPORT')).filter((x) => x.customer?.id === twice.id)).toHaveLength(1);
      } finally {
        await t.graphql('mutation($id: ID!) { deleteAutomationRule(id: $id) { deletedId } }', { id: rule!.id });
      }
    });

    it('counts a complaint once when the rule consumer handles its events again', async () => {
      const db = mongoose.connection.db!;
      const state = async (customerId: string) => ({
        hours: (await db.collection<{ n: number }>('complaint_hours').find().toArray()).reduce(
          (sum, h) => sum + h.n,
          0,
        ),
        window: (
          await db
            .collection('complaint_windows')
            .findOne({ _id: new mongoose.Types.ObjectId(fromGlobalId(customerId)!.localId) })
        )?.complaints,
        tasks: (await tasks('SUPPORT')).filter((x) => x.customer?.id === customerId).length,
      });
      const c = await createCustomer(t, { name: 'Replayed Complainer' });
      await t.settle();
      const rules = t.server.domain.consumers.find((x) => x.name === 'automation-rules')!;
      const from = (await Consumer.findById(rules.name).lean())!.position;
      const complaint = { customerId: c.id, type: 'COMPLAINT', channel: 'PHONE' };
      await recordInteraction(t, complaint);
      await recordInteraction(t, complaint);
      await t.settle();
      const counted = await state(c.id);
      expect(counted.window).toHaveLength(2);
      expect(counted.tasks).toBe(1);

      // As after a crash between the writes and the position store: the events come again.
      await rules.stop();
      await Consumer.updateOne({ _id: rules.name }, { $set: { position: from } });
      rules.start();
      await t.settle();
      expect(await state(c.id)).toEqual(counted);
    });

    it('counts a run whose jobs were scheduled but not its record once, when its event comes again', async () => {
      const { rule } = await createRule({
        name: 'Greet the Recounted',
        trigger: { type: 'CUSTOMER_CREATED' },
        actions: [{ type: 'CREATE_TASK', department: 'SALES', title: 'Greet the recounted customer' }],
      });
      try {
        const ruleId = fromGlobalId(rule!.id)!.localId;
        const stats = async () => (await rules()).find((r) => r.id === rule!.id)!.stats;
        const rulesConsumer = t.server.domain.consumers.find((x) => x.name === 'automation-rules')!;
        await t.settle();
        const from = (await Consumer.findById(rulesConsumer.name).lean())!.position;
        const c = await createCustomer(t, { name: 'Recounted Customer' });
        await t.settle();
        const greetings = async () =>
          (await tasks('SALES')).filter((x) => x.customer?.id === c.id && x.title === 'Greet the recounted customer');
        expect(await greetings()).toHaveLength(1);
        expect((await stats()).matched).toBe(1);

        // As after a process died between the run's jobs (since run) and its record: no record,
        // not counted; then the events come again.
        const records = mongoose.connection.db!.collection<{ _id: string }>('automation_steps_done');
        const matched = await records.deleteMany({ _id: { $regex: `^${ruleId}:e\\d+:matched$` } });
        expect(matched.deletedCount).toBe(1);
        await mongoose.connection
          .db!.collection('automation_rules')
          .updateOne({ _id: new mongoose.Types.ObjectId(ruleId) }, { $inc: { 'stats.matched': -1 } });
        for (let replay = 0; replay < 2; replay++) {
          await rulesConsumer.stop();
          await Consumer.updateOne({ _id: rulesConsumer.name }, { $set: { position: from } });
          rulesConsumer.start();
          await t.settle();
          expect((await stats()).matched).toBe(1);
          expect(await greetings()).toHaveLength(1);
        }
      } finally {
        await t.graphql('mutation($id: ID!) { deleteAutomationRule(id: $id) { deletedId } }', { id: rule!.id });
      }
    });

    it('retention and win-back: AT_RISK gets a message and a SUPPORT task, CHURNED an offer', async () => {
      const c = await createCustomer(t, { name: 'Fading Customer' });
      await eventually(
        () => messagesTo(c.id),
        (m) => m.length === 1,
      ); // the welcome
      // A purchase, so that onboarding's 7-day reminder (due too when the clock jumps) is skipped
      // and does not take the day's message.
      await recordPurchase(t, { customerId: c.id, amount: '1000' });
      clock.advance(91 * DAY_MS);
      await sweep(t);
      await eventually(
        () => messagesTo(c.id),
        (m) => m.includes('We miss you, Fading Customer. Is there anything we can help with?'),
      );
      await eventually(
        () => tasks('SUPPORT'),
        (list) => list.some((x) => x.customer?.id === c.id && x.title === 'At-risk customer: check in'),
      );
      clock.advance(90 * DAY_MS);
      await sweep(t);
      await eventually(
        () => messagesTo(c.id),
        (m) => m.includes('Fading Customer, come back: 20% off your next order.'),
      );
    });
  });

  describe('rules', () => {
    it('validates a rule on save, field by field, and saves nothing then', async () => {
      const bad = await createRule({
        name: '',
        trigger: { type: 'INACTIVE_FOR', toSegments: ['VIP'] },
        conditions: [
          { field: 'SEGMENT', operator: 'GT', value: 'VIP' },
          { field: 'TOTAL_PURCHASES', operator: 'GTE', value: 'lots' },
        ],
        actions: [
          { type: 'CREATE_TASK', title: 'x' },
          { type: 'SEND_MESSAGE', message: 'Hi {{password}}' },
        ],
      });
      expect(bad.rule).toBeNull();
      expect(bad.userErrors.map((e) => e.field?.join('.'))).toEqual([
        'input.name',
        'input.trigger.toSegments',
        'input.trigger.inactiveDays',
        'input.conditions.0',
        'input.conditions.1',
        'input.actions.0.department',
        'input.actions.1.message',
      ]);
      expect((await rules()).length).toBe(5);
    });

    it('caps automated messages per customer, and counts what it skipped', async () => {
      const { rule } = await createRule({
        name: 'Thank you for your inquiry',
        trigger: { type: 'INTERACTION_RECORDED', interactionTypes: ['INQUIRY'] },
        actions: [{ type: 'SEND_MESSAGE', message: 'Thanks for asking, {{name}}.' }],
      });
      const c = await createCustomer(t, { name: 'Curious Customer' });
      await eventually(
        () => messagesTo(c.id),
        (m) => m.length === 1,
      ); // the welcome uses the day's message
      clock.advance(DAY_MS + 1_000);
      await recordInteraction(t, { customerId: c.id, type: 'INQUIRY', channel: 'WEB' });
      await recordInteraction(t, { customerId: c.id, type: 'INQUIRY', channel: 'WEB' });
      await eventually(
        async () => (await rules()).find((r) => r.id === rule!.id)!.stats,
        (s) => s.matched === 2 && s.executed === 1 && s.skipped === 1,
      );
      expect(await messagesTo(c.id)).toEqual([
        'Welcome, Curious Customer! We are glad you are here.',
        'Thanks for asking, Curious Customer.',
      ]);
      await t.graphql('mutation($id: ID!) { deleteAutomationRule(id: $id) { deletedId } }', { id: rule!.id });
    });

    it('stops a rule from acting on the events its own actions cause (a loop)', async () => {
      const { rule } = await createRule({
        name: 'Echo every marketing touch (a loop)',
        trigger: { type: 'INTERACTION_RECORDED', interactionTypes: ['MARKETING'] },
        conditions: [{ field: 'TAGS', operator: 'CONTAINS', value: 'echo' }],
        actions: [{ type: 'SEND_MESSAGE', message: 'Echo for {{name}}' }],
      });
      const c = await createCustomer(t, { name: 'Echo Target', tags: ['echo'] });
      // The welcome (caused by onboarding) matches the echo rule too; its echo is capped.
      await eventually(
        () => messagesTo(c.id),
        (m) => m.length === 1,
      );
      await eventually(
        async () => (await rules()).find((r) => r.id === rule!.id)!.stats,
        (s) => s.skipped === 1,
      );
      clock.advance(DAY_MS + 1_000); // past the cap
      await recordInteraction(t, { customerId: c.id, type: 'MARKETING', channel: 'EMAIL', description: 'newsletter' });
      await eventually(
        async () => (await rules()).find((r) => r.id === rule!.id)!.stats,
        (s) => (s.executed ?? 0) >= 1 && (s.loopsStopped ?? 0) >= 1,
      );
      await t.settle(); // the echo's own events went through the rules too
      const stats = (await rules()).find((r) => r.id === rule!.id)!.stats;
      expect(stats).toMatchObject({ matched: 2, executed: 1, skipped: 1, loopsStopped: 1 });
      expect((await messagesTo(c.id)).filter((m) => m.startsWith('Echo for'))).toHaveLength(1);
      expect((await alerts()).some((a) => a.kind === 'LOOP')).toBe(true);
      await t.graphql('mutation($id: ID!) { deleteAutomationRule(id: $id) { deletedId } }', { id: rule!.id });
    });

    it('answers a dry run with the customers a rule matches now, changing nothing', async () => {
      const res = await t.graphql<{ automationDryRun: { matchedCount: number; sample: Array<{ name: string }> } }>(
        `query($rule: AutomationRuleInput) { automationDryRun(rule: $rule) { matchedCount sample { name } } }`,
        {
          rule: {
            name: 'VIPs',
            trigger: { type: 'SEGMENT_CHANGED' },
            conditions: [{ field: 'TOTAL_PURCHASES', operator: 'GTE', value: '1000000' }],
            actions: [{ type: 'ADD_TAG', tag: 'x' }],
          },
        },
      );
      expect(res.body.errors).toBeUndefined();
      expect(res.body.data!.automationDryRun.sample.map((c) => c.name)).toEqual(['Big Spender']);
      expect(res.body.data!.automationDryRun.matchedCount).toBe(1);
    });

    it('is for ADMIN and MARKETING only', async () => {
      for (const role of ['SALES', 'SUPPORT', 'ANALYST'] as const)
        expect((await as(role, '{ automationRules { id } }')).body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      expect((await as('MARKETING', '{ automationRules { id } }')).body.errors).toBeUndefined();
    });
  });

  it('raises one anomaly alert when complaints this hour exceed 3x the 7-day hourly average', async () => {
    const before = (await alerts()).filter((a) => a.kind === 'ANOMALY').length;
    clock.advance(3_600_000);
    const people = await Promise.all(
      ['A', 'B', 'C', 'D', 'E'].map((n) => createCustomer(t, { name: `Complainer ${n}` })),
    );
    for (const p of people) await recordInteraction(t, { customerId: p.id, type: 'COMPLAINT', channel: 'PHONE' });
    await eventually(
      async () => (await alerts()).filter((a) => a.kind === 'ANOMALY').length,
      (n) => n === before + 1,
    );
    await t.settle(); // every complaint was counted
    expect((await alerts()).filter((a) => a.kind === 'ANOMALY')).toHaveLength(before + 1);
  });

  describe('more triggers and steps', () => {
    it('PURCHASE_RECORDED with amount bounds, and an INACTIVE_FOR rule once per quiet spell', async () => {
      const { rule: big } = await createRule({
        name: 'Big basket',
        trigger: { type: 'PURCHASE_RECORDED', minAmount: '50000', maxAmount: '99999' },
        actions: [{ type: 'ADD_TAG', tag: 'big-basket' }],
      });
      const { rule: quiet } = await createRule({
        name: 'Quiet for 30 days',
        trigger: { type: 'INACTIVE_FOR', inactiveDays: 30 },
        conditions: [{ field: 'TAGS', operator: 'CONTAINS', value: 'watch' }],
        actions: [{ type: 'CREATE_TASK', department: 'SALES', title: 'Quiet customer: reach out' }],
      });
      const c = await createCustomer(t, { name: 'Basket Watcher', tags: ['watch'] });
      await recordPurchase(t, { customerId: c.id, amount: '49999' });
      await recordPurchase(t, { customerId: c.id, amount: '100000' });
      await recordPurchase(t, { customerId: c.id, amount: '50000' });
      const tagsOf = async () =>
        (
          await t.graphql<{ customer: { tags: string[] } }>('query($id: ID!) { customer(id: $id) { tags } }', {
            id: c.id,
          })
        ).body.data!.customer.tags;
      await eventually(tagsOf, (tags) => tags.includes('big-basket'));
      await eventually(
        async () => (await rules()).find((r) => r.id === big!.id)!.stats.matched,
        (n) => n === 1,
      );

      // The inactivity scan runs periodically; here it also runs when asked, on the test's clock.
      clock.advance(31 * DAY_MS);
      await sweepInactivity();
      await sweepInactivity(); // the same quiet spell: nothing new
      await t.settle();
      expect(
        (await tasks('SALES')).filter((x) => x.customer?.id === c.id && x.title === 'Quiet customer: reach out'),
      ).toHaveLength(1);
      expect((await rules()).find((r) => r.id === quiet!.id)!.stats.matched).toBe(1);
      for (const r of [big, quiet])
        await t.graphql('mutation($id: ID!) { deleteAutomationRule(id: $id) { deletedId } }', { id: r!.id });
    });

    it('retries a failing step with backoff, then keeps it as failed and counts it', async () => {
      const { rule } = await createRule({
        name: 'Text VIPs through the provider (not configured here)',
        trigger: { type: 'INTERACTION_RECORDED', interactionTypes: ['SUPPORT'] },
        actions: [{ type: 'SEND_MESSAGE', channel: 'WEBHOOK', message: 'Hi {{name}}' }],
      });
      const c = await createCustomer(t, { name: 'Unreachable By Text' });
      await recordInteraction(t, { customerId: c.id, type: 'SUPPORT', channel: 'PHONE' });
      const failedSteps = async () => {
        const res = await t.graphql<{
          automationRule: { stats: { failed: number }; failedSteps: Array<Record<string, unknown>> };
        }>(
          'query($id: ID!) { automationRule(id: $id) { stats { failed executed } failedSteps { step attempts lastError causeType customer { name } } } }',
          { id: rule!.id },
        );
        expect(res.body.errors).toBeUndefined();
        return res.body.data!.automationRule;
      };
      // Tries 1 to 5: the clock moves past each backoff (1, 2, 4, 8 s) until the step is given up.
      const after = await eventually(
        async () => {
          clock.advance(10_000);
          return failedSteps();
        },
        (r) => r?.stats.failed === 1,
      );
      expect(after.failedSteps).toEqual([
        {
          step: 0,
          attempts: 5,
          lastError: 'the WEBHOOK channel is not configured on this server',
          causeType: 'INTERACTION_RECORDED',
          customer: { name: 'Unreachable By Text' },
        },
      ]);
      await t.graphql('mutation($id: ID!) { deleteAutomationRule(id: $id) { deletedId } }', { id: rule!.id });
    });

    it('tasks: a department creates, assigns and closes its own tasks', async () => {
      const support = async (query: string, variables = {}) => as('SUPPORT', query, variables);
      const me = (await support('{ me { id } }')).body.data as { me: { id: string } };
      const created = await support(
        'mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id status department assignee { id } } userErrors { field code } } }',
        { input: { title: 'Follow up the refund', department: 'SUPPORT', assigneeId: me.me.id } },
      );
      const task = (
        created.body.data as { createTask: { task: { id: string; status: string; assignee: { id: string } } } }
      ).createTask.task;
      expect(task).toMatchObject({ status: 'OPEN', assignee: { id: me.me.id } });
      const elsewhere = await support(
        'mutation { createTask(input: { title: "not mine", department: SALES }) { task { id } } }',
      );
      expect(elsewhere.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
      const bad = await support(
        'mutation($id: ID!) { updateTask(id: $id, input: { title: " " }) { userErrors { field code } } }',
        {
          id: task.id,
        },
      );
      expect(bad.body.data).toEqual({ updateTask: { userErrors: [{ field: ['input', 'title'], code: 'INVALID' }] } });
      const done = await support(
        'mutation($id: ID!) { updateTask(id: $id, input: { status: DONE }) { task { status } } }',
        {
          id: task.id,
        },
      );
      expect(done.body.data).toEqual({ updateTask: { task: { status: 'DONE' } } });
      const sales = await as(
        'SALES',
        'mutation($id: ID!) { updateTask(id: $id, input: { status: OPEN }) { userErrors { code } } }',
        {
          id: task.id,
        },
      );
      expect(sales.body.data).toEqual({ updateTask: { userErrors: [{ code: 'NOT_FOUND' }] } });
    });
  });

  describe('outbound webhooks', () => {
    type Received = { id: string; valid: boolean; type: string };
    const received: Received[] = [];
    let answer: (n: number) => number = () => 200;
    let secret = '';
    const receiver = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const headers = Object.fromEntries(Object.entries(req.headers).map(([k, v]) => [k, String(v)]));
        let valid = true;
        try {
          new Webhook(secret.replace(/^whsec_/, '')).verify(body, headers);
        } catch {
          valid = false;
        }
        received.push({ id: headers['webhook-id'] ?? '', valid, type: (JSON.parse(body) as { type: string }).type });
        res.statusCode = answer(received.filter((r) => r.id === headers['webhook-id']).length);
        res.end();
      });
    });
    let url = '';
    beforeAll(async () => {
      await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
      url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    });
    afterAll(() => new Promise<void>((r) => receiver.close(() => r())));

    async function deliveries(endpointId: string) {
      const res = await t.graphql<{
        node: {
          deliveries: {
            edges: Array<{
              node: { id: string; status: string; attempts: number; responseCode: number | null; eventType: string };
            }>;
          };
        };
      }>(
        'query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { enabled disabledReason deliveries(first: 50) { edges { node { id status attempts responseCode eventType lastError } } } } } }',
        { id: endpointId },
      );
      expect(res.body.errors).toBeUndefined();
      return res.body.data!.node.deliveries.edges.map((e) => e.node);
    }

    it('signs each delivery, retries with backoff after failures, and redelivers on request', async () => {
      const created = await t.graphql<{
        createWebhookEndpoint: { endpoint: { id: string }; secret: string; userErrors: UserError[] };
      }>(
        'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id enabled eventTypes } secret userErrors { code } } }',
        { input: { url, eventTypes: ['SEGMENT_CHANGED'] } },
      );
      expect(created.body.data!.createWebhookEndpoint.userErrors).toEqual([]);
      secret = created.body.data!.createWebhookEndpoint.secret;
      expect(secret).toMatch(/^whsec_/);
      const endpointId = created.body.data!.createWebhookEndpoint.endpoint.id;
      answer = (n) => (n <= 2 ? 503 : 200);

      await createCustomer(t, { name: 'Hooked Customer' }); // SEGMENT_CHANGED (created)
      await eventually(
        () => deliveries(endpointId),
        (d) => d.length === 1 && d[0]!.attempts === 1,
      );
      clock.advance(5_000);
      await eventually(
        () => deliveries(endpointId),
        (d) => d[0]!.attempts === 2,
      );
      clock.advance(10_000);
      await eventually(
        () => deliveries(endpointId),
        (d) => d[0]!.status === 'SUCCEEDED',
      );
      const [delivery] = await deliveries(endpointId);
      expect(delivery).toMatchObject({ attempts: 3, responseCode: 200, eventType: 'SEGMENT_CHANGED' });
      const tries = received.filter((r) => r.type === 'crm.segment_changed');
      expect(tries).toHaveLength(3);
      expect(new Set(tries.map((r) => r.id)).size).toBe(1);
      expect(tries.every((r) => r.valid)).toBe(true);

      const again = await t.graphql<{ redeliverWebhook: { delivery: { status: string } } }>(
        'mutation($id: ID!) { redeliverWebhook(deliveryId: $id) { delivery { status } userErrors { code } } }',
        { id: delivery!.id },
      );
      expect(again.body.data!.redeliverWebhook.delivery.status).toBe('PENDING');
      await eventually(
        () => Promise.resolve(received.filter((r) => r.id === tries[0]!.id).length),
        (n) => n === 4,
      );

      // A rule's CALL_WEBHOOK step goes to the endpoint it names, signed the same way.
      answer = () => 200;
      const { rule } = await createRule({
        name: 'Tell the ERP about VIPs',
        trigger: { type: 'SEGMENT_CHANGED', toSegments: ['VIP'] },
        actions: [{ type: 'CALL_WEBHOOK', webhookEndpointId: endpointId }],
      });
      expect(rule).not.toBeNull();
      const vip = await createCustomer(t, { name: 'Hooked VIP' });
      await recordPurchase(t, { customerId: vip.id, amount: '2000000' });
      await eventually(
        () => Promise.resolve(received.filter((r) => r.type === 'crm.automation_action')),
        (list) => list.length === 1 && list[0]!.valid,
      );
      await t.graphql('mutation($id: ID!) { deleteAutomationRule(id: $id) { deletedId } }', { id: rule!.id });
      await t.graphql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { endpoint { id } } }', { id: endpointId });
    });

    it('disables an endpoint whose deliveries keep failing for the whole retry window', async () => {
      const created = await t.graphql<{ createWebhookEndpoint: { endpoint: { id: string }; secret: string } }>(
        'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } secret } }',
        { input: { url, eventTypes: ['SEGMENT_CHANGED'] } },
      );
      secret = created.body.data!.createWebhookEndpoint.secret;
      const endpointId = created.body.data!.createWebhookEndpoint.endpoint.id;
      answer = () => 500;
      await createCustomer(t, { name: 'Unreachable Hook' });
      for (let i = 0; i < 12; i++) {
        await eventually(
          () => deliveries(endpointId),
          (d) => d.length === 1,
        );
        clock.advance(20_000);
        await t.runJob('webhook-deliveries'); // the retry that became due
      }
      const endpoint = await eventually(
        async () =>
          (
            await t.graphql<{ node: { enabled: boolean; disabledReason: string | null } }>(
              'query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { enabled disabledReason } } }',
              { id: endpointId },
            )
          ).body.data!.node,
        (e) => !e.enabled,
      );
      expect(endpoint.disabledReason).toMatch(/every delivery attempt failed/);
      expect((await deliveries(endpointId))[0]).toMatchObject({ status: 'FAILED', responseCode: 500 });
    });
  });
});
