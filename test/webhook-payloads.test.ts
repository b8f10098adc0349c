/**
 * One contract for every webhook payload: each event type is caused through the API, a real
 * HTTP receiver on 127.0.0.1 takes the real deliveries, and every body received is validated
 * against its JSON Schema in docs/webhooks/ (draft 2020-12, with Ajv) — as is the example in
 * docs/GUIDE.md. The schemas allow no other fields, so an internal name (`_id`, `customerId`,
 * `amountMinor`) or a raw ObjectId fails the test.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { ManualClock } from '../src/shared/clock.js';
import { localIdOf } from '../src/shared/ids.js';
import { projectRoot } from '../src/shared/paths.js';
import { createCampaign, campaignMutation, settled } from './helpers/campaigns.js';
import { createCustomer, recordInteraction, recordPurchase } from './helpers/crm.js';
import { eventually } from './helpers/process.js';
import { useTestServer } from './helpers/server.js';
import { WEBHOOK_EVENT_TYPES } from '../src/modules/webhooks/model.js';

const EVENT_TYPES = WEBHOOK_EVENT_TYPES;

type Body = { type: string; timestamp: string; data: Record<string, unknown> };
type Received = { deliveryId: string; body: Body };

/** `crm.task_created` → docs/webhooks/task-created.schema.json */
const schemaFileOf = (bodyType: string) =>
  path.join(projectRoot, 'docs', 'webhooks', `${bodyType.replace(/^crm\./, '').replaceAll('_', '-')}.schema.json`);

function compileSchemas(): Map<string, ValidateFunction> {
  const ajv = new Ajv2020({ strict: true, allErrors: true });
  // ajv-formats is CommonJS: imported from ESM, the plugin is its exports' `default`.
  addFormats.default(ajv);
  return new Map(
    EVENT_TYPES.map((type) => {
      const bodyType = `crm.${type.toLowerCase()}`;
      return [bodyType, ajv.compile(JSON.parse(readFileSync(schemaFileOf(bodyType), 'utf8')) as object)];
    }),
  );
}

/** What is wrong with a body, or null when it follows its schema. */
function violations(validators: Map<string, ValidateFunction>, body: Body): string | null {
  const { type } = body;
  const validate = validators.get(type);
  if (!validate) return `${type}: no schema for this type`;
  if (validate(body)) return null;
  return `${type}: ${(validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')}\n${JSON.stringify(body)}`;
}

function startReceiver() {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => (text += chunk));
    req.on('end', () => {
      received.push({ deliveryId: String(req.headers['webhook-id']), body: JSON.parse(text) as Body });
      res.end();
    });
  });
  return {
    received,
    url: () => `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    listen: () => new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve())),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('webhook payloads', () => {
  const clock = new ManualClock(new Date('2026-04-06T09:00:00.000Z'));
  const receiver = startReceiver();
  const validators = compileSchemas();
  const t = useTestServer({
    clock,
    env: { AUTOMATION_POLL_MS: '30', CAMPAIGN_POLL_MS: '50', WEBHOOK_RETRY_BASE_MS: '1000' },
  });
  let endpointId = '';
  let customer: { id: string; code: string };

  async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
    const res = await t.graphql<T>(query, variables);
    expect(res.body.errors).toBeUndefined();
    return res.body.data!;
  }

  async function deliveryStatuses(): Promise<string[]> {
    const data = await gql<{ node: { deliveries: { edges: Array<{ node: { status: string } }> } } }>(
      'query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { deliveries(first: 100) { edges { node { status } } } } } }',
      { id: endpointId },
    );
    return data.node.deliveries.edges.map((e) => e.node.status);
  }

  beforeAll(async () => {
    await receiver.listen();
    const created = await gql<{ createWebhookEndpoint: { endpoint: { id: string }; userErrors: unknown[] } }>(
      'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } userErrors { code } } }',
      { input: { url: receiver.url(), eventTypes: EVENT_TYPES } },
    );
    expect(created.createWebhookEndpoint.userErrors).toEqual([]);
    endpointId = created.createWebhookEndpoint.endpoint.id;

    // A purchase makes a rule create a task, raise an alert and call the endpoint.
    const rule = await gql<{ createAutomationRule: { userErrors: unknown[] } }>(
      'mutation($input: AutomationRuleInput!) { createAutomationRule(input: $input) { rule { id } userErrors { field message code } } }',
      {
        input: {
          name: 'Purchases: tell everyone',
          trigger: { type: 'PURCHASE_RECORDED' },
          actions: [
            { type: 'CREATE_TASK', department: 'SALES', title: 'Say thanks', dueInDays: 2 },
            { type: 'RAISE_ALERT', title: 'A purchase', severity: 'INFO', departments: ['SALES', 'MARKETING'] },
            { type: 'CALL_WEBHOOK', webhookEndpointId: endpointId },
          ],
        },
      },
    );
    expect(rule.createAutomationRule.userErrors).toEqual([]);

    customer = await createCustomer(t, { name: 'Payload Customer' }); // SEGMENT_CHANGED
    await recordPurchase(t, { customerId: customer.id, amount: '25000' }); // INTERACTION_RECORDED with an amount
    await recordInteraction(t, { customerId: customer.id, type: 'INQUIRY', channel: 'PHONE', description: 'Hours?' });

    // A task by hand: no customer, no rule, an assignee.
    await t.tokenFor('SALES');
    const { users } = await gql<{ users: Array<{ id: string; role: string }> }>('{ users { id role } }');
    const task = await gql<{ createTask: { userErrors: unknown[] } }>(
      'mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id } userErrors { field message code } } }',
      {
        input: {
          title: 'Call the supplier',
          department: 'SALES',
          dueAt: '2026-04-08T12:00:00.000Z',
          assigneeId: users.find((u) => u.role === 'SALES')!.id,
        },
      },
    );
    expect(task.createTask.userErrors).toEqual([]);

    const campaign = await createCampaign(t, {
      name: 'Spring note',
      targetSegments: ['NEW', 'VIP', 'LOYAL', 'AT_RISK', 'CHURNED'],
      message: 'Hello {{name}}',
      channel: 'OUTBOX',
    });
    expect((await campaignMutation(t, 'executeCampaign', { id: campaign.id })).userErrors).toEqual([]);
    expect((await settled(t, campaign.id)).status).toBe('COMPLETED');

    // Every event type arrived, and every queued delivery was taken (none left to arrive).
    await eventually(
      () => Promise.resolve(receiver.received.map((r) => r.body)),
      (bodies) =>
        EVENT_TYPES.every((type) => bodies.some((b) => b.type === `crm.${type.toLowerCase()}`)) &&
        bodies.some((b) => b.type === 'crm.campaign_progress' && b.data.status === 'COMPLETED') &&
        bodies.filter((b) => b.type === 'crm.task_created').length === 2,
      20_000,
    );
    await eventually(
      deliveryStatuses,
      (statuses) =>
        statuses.every((s) => s === 'SUCCEEDED') &&
        statuses.length === new Set(receiver.received.map((r) => r.deliveryId)).size,
    );
  }, 60_000);

  afterAll(async () => {
    await receiver.close();
  });

  it('sends every event type, each payload valid against its schema', () => {
    const bodies = receiver.received.map((r) => r.body);
    expect(new Set(bodies.map((b) => b.type))).toEqual(new Set(EVENT_TYPES.map((e) => `crm.${e.toLowerCase()}`)));
    expect(bodies.map((b) => violations(validators, b)).filter(Boolean)).toEqual([]);
  });

  it('names objects by global ids of their types and customers by id and code', () => {
    const ofType = (type: string) => receiver.received.map((r) => r.body).filter((b) => b.type === type);
    const byRule = ofType('crm.task_created').find((b) => b.data.rule !== null)!;
    const byHand = ofType('crm.task_created').find((b) => b.data.rule === null)!;
    expect(byRule.data.customer).toEqual({ id: customer.id, code: customer.code });
    expect(localIdOf((byRule.data.task as { id: string }).id, 'Task')).not.toBeNull();
    expect(localIdOf((byRule.data.rule as { id: string }).id, 'AutomationRule')).not.toBeNull();
    expect(byHand.data).toMatchObject({ customer: null, task: { dueAt: '2026-04-08T12:00:00.000Z' } });
    expect(localIdOf((byHand.data.assignee as { id: string }).id, 'User')).not.toBeNull();

    const [alert] = ofType('crm.alert_raised');
    expect(alert!.data.customer).toEqual({ id: customer.id, code: customer.code });
    expect(localIdOf((alert!.data.alert as { id: string }).id, 'Alert')).not.toBeNull();

    const [action] = ofType('crm.automation_action');
    expect(action!.data.customer).toMatchObject({ id: customer.id, code: customer.code });
    expect(localIdOf((action!.data.rule as { id: string }).id, 'AutomationRule')).not.toBeNull();

    const interactions = ofType('crm.interaction_recorded').map((b) => b.data.interaction);
    expect(interactions).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ type: 'PURCHASE', amount: { amount: '25000', currency: 'KRW' } }),
        expect.objectContaining({ type: 'INQUIRY', amount: null }),
      ]),
    );
  });

  it("the guide's example payload follows its schema", () => {
    const guide = readFileSync(path.join(projectRoot, 'docs', 'GUIDE.md'), 'utf8');
    const examples = [...guide.matchAll(/```json\n([\s\S]*?)```/g)].map((m) => JSON.parse(m[1]!) as Body);
    const webhookExamples = examples.filter((e) => typeof e.type === 'string' && e.type.startsWith('crm.'));
    expect(webhookExamples.length).toBeGreaterThanOrEqual(1);
    expect(webhookExamples.map((b) => violations(validators, b)).filter(Boolean)).toEqual([]);
  });
});
