/**
 * Outbound webhooks cannot be aimed at the inside of the network: in production, endpoints and
 * the campaign provider on loopback, private, link-local or metadata addresses are refused when
 * saved and again at each delivery (after DNS), a refused delivery records why and no response
 * code, and no redirect is followed. WEBHOOK_ALLOWED_HOSTS lets named hosts through; development
 * still reaches a local receiver. The receiver is a real HTTP server on 127.0.0.1.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { loadConfig } from '../src/config.js';
import { createOutboundHttp, forbiddenAddressKind } from '../src/shared/outbound-http.js';
import { allDeliveries, campaignMutation, createCampaign, settled } from './helpers/campaigns.js';
import { createCustomer } from './helpers/crm.js';
import { eventually } from './helpers/process.js';
import { startTestServer, useTestServer, type TestServer } from './helpers/server.js';

type UserError = { field: string[] | null; message: string; code: string };
type Delivery = { status: string; attempts: number; responseCode: number | null; lastError: string | null };

const PROVIDER_SECRET = `whsec_${Buffer.from('pulse-crm-outbound-test-secret-32b').toString('base64')}`;
const ALLOWED_BY = '(WEBHOOK_ALLOWED_HOSTS lists hosts that may)';

/** Records every request; `/redirect` answers 307 to `/followed` (a POST keeps its body on a 307). */
function startReceiver() {
  const requests: string[] = [];
  let base = '';
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push(req.url ?? '');
      if (req.url === '/redirect') res.writeHead(307, { location: `${base}/followed` });
      res.end();
    });
  });
  return {
    requests,
    url: (path: string) => `${base}${path}`,
    port: () => (server.address() as AddressInfo).port,
    listen: () =>
      new Promise<void>((resolve) =>
        server.listen(0, '127.0.0.1', () => {
          base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
          resolve();
        }),
      ),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function createEndpoint(
  t: TestServer,
  url: string,
  eventTypes = ['SEGMENT_CHANGED'],
): Promise<{ endpoint: { id: string } | null; userErrors: UserError[] }> {
  const res = await t.graphql<{ createWebhookEndpoint: { endpoint: { id: string } | null; userErrors: UserError[] } }>(
    'mutation($input: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $input) { endpoint { id } userErrors { field message code } } }',
    { input: { url, eventTypes } },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.createWebhookEndpoint;
}

async function deliveriesOf(t: TestServer, endpointId: string): Promise<Delivery[]> {
  const res = await t.graphql<{ node: { deliveries: { edges: Array<{ node: Delivery }> } } }>(
    'query($id: ID!) { node(id: $id) { ... on WebhookEndpoint { deliveries(first: 20) { edges { node { status attempts responseCode lastError } } } } } }',
    { id: endpointId },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.node.deliveries.edges.map((e) => e.node);
}

const firstAttempt = (t: TestServer, endpointId: string) =>
  eventually(
    () => deliveriesOf(t, endpointId),
    (list) => (list[0]?.attempts ?? 0) >= 1,
  ).then((list) => list[0]!);

async function createRule(t: TestServer, input: Record<string, unknown>) {
  const res = await t.graphql<{
    createAutomationRule: { rule: { id: string } | null; userErrors: UserError[] };
  }>(
    'mutation($input: AutomationRuleInput!) { createAutomationRule(input: $input) { rule { id } userErrors { field message code } } }',
    { input },
  );
  expect(res.body.errors).toBeUndefined();
  return res.body.data!.createAutomationRule;
}

describe('outbound webhooks', () => {
  const receiver = startReceiver();
  beforeAll(() => receiver.listen());
  afterAll(() => receiver.close());

  describe('in production', () => {
    let t: TestServer;
    /** Endpoints saved while private addresses were allowed, before the server ran in production. */
    const saved: Record<string, string> = {};
    const targets = () => ({
      loopback: receiver.url('/hook'),
      closedPort: 'http://127.0.0.1:9/hook',
      localhost: `http://localhost:${receiver.port()}/hook`,
      metadata: 'http://169.254.169.254/latest/meta-data/',
      private: 'http://10.0.0.1/hook',
    });

    beforeAll(async () => {
      const before = await startTestServer();
      for (const [name, url] of Object.entries(targets())) {
        const { endpoint, userErrors } = await createEndpoint(before, url);
        expect(userErrors).toEqual([]);
        saved[name] = endpoint!.id;
      }
      await before.stop({ keepData: true });
      t = await startTestServer({
        keepData: true,
        env: {
          NODE_ENV: 'production',
          AUTOMATION_POLL_MS: '30',
          AUTOMATION_RETRY_BASE_MS: '0',
          WEBHOOK_RETRY_BASE_MS: '60000',
          CAMPAIGN_WEBHOOK_URL: receiver.url('/provider'),
          CAMPAIGN_WEBHOOK_SECRET: PROVIDER_SECRET,
        },
      });
    });
    afterAll(() => t.stop());

    it('refuses an endpoint on a loopback, metadata or private address when it is saved', async () => {
      const refused = [
        ...Object.values(targets()),
        'http://[::1]/hook',
        'http://[::ffff:127.0.0.1]/',
        'http://0x7f.1/',
      ];
      for (const url of refused) {
        const { endpoint, userErrors } = await createEndpoint(t, url);
        expect(endpoint).toBeNull();
        expect(userErrors).toEqual([
          {
            field: ['input', 'url'],
            code: 'FORBIDDEN',
            message: expect.stringMatching(/^refused: \S+ is a (loopback|cloud metadata|private) address/),
          },
        ]);
      }
      const metadata = await createEndpoint(t, 'http://169.254.169.254/latest/meta-data/');
      expect(metadata.userErrors[0]!.message).toBe(
        `refused: 169.254.169.254 is a cloud metadata address, which outbound webhooks may not reach ${ALLOWED_BY}`,
      );

      // Nothing is delivered to this one: it waits for campaign progress, and is gone at the end.
      const { endpoint } = await createEndpoint(t, 'https://hooks.example.com/crm', ['CAMPAIGN_PROGRESS']);
      const moved = await t.graphql<{ updateWebhookEndpoint: { userErrors: UserError[] } }>(
        'mutation($id: ID!, $input: UpdateWebhookEndpointInput!) { updateWebhookEndpoint(id: $id, input: $input) { userErrors { field message code } } }',
        { id: endpoint!.id, input: { url: 'http://192.168.1.1/admin' } },
      );
      expect(moved.body.data!.updateWebhookEndpoint.userErrors).toEqual([
        {
          field: ['input', 'url'],
          code: 'FORBIDDEN',
          message: `refused: 192.168.1.1 is a private address, which outbound webhooks may not reach ${ALLOWED_BY}`,
        },
      ]);
      await t.graphql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { endpoint { id } } }', {
        id: endpoint!.id,
      });
    });

    it('refuses them again at delivery, after DNS: the delivery records why and no response code', async () => {
      await createCustomer(t, { name: 'Probe Customer' }); // SEGMENT_CHANGED, to every saved endpoint
      const reasons = {
        loopback: '127.0.0.1 is a loopback address',
        closedPort: '127.0.0.1 is a loopback address', // the same answer: no port scanning
        localhost: 'localhost resolves to a loopback address',
        metadata: '169.254.169.254 is a cloud metadata address',
        private: '10.0.0.1 is a private address',
      };
      for (const [name, reason] of Object.entries(reasons))
        expect(await firstAttempt(t, saved[name]!)).toEqual({
          status: 'PENDING',
          attempts: 1,
          responseCode: null,
          lastError: `refused: ${reason}, which outbound webhooks may not reach ${ALLOWED_BY}`,
        });
      expect(receiver.requests).toEqual([]);
    });

    it('a CALL_WEBHOOK step cannot name an endpoint whose URL is refused', async () => {
      const { rule, userErrors } = await createRule(t, {
        name: 'Tell the metadata service',
        trigger: { type: 'CUSTOMER_CREATED' },
        actions: [{ type: 'CALL_WEBHOOK', webhookEndpointId: saved.metadata }],
      });
      expect(rule).toBeNull();
      expect(userErrors).toEqual([
        {
          field: ['input', 'actions', '0', 'webhookEndpointId'],
          code: 'FORBIDDEN',
          message: `the endpoint's URL is refused: 169.254.169.254 is a cloud metadata address, which outbound webhooks may not reach ${ALLOWED_BY}`,
        },
      ]);
    });

    it('a campaign provider on a loopback address is refused for campaigns, and automated messages never reach it', async () => {
      const campaign = await campaignMutation(t, 'createCampaign', {
        input: { name: 'Through the provider', targetSegments: ['NEW'], message: 'Hi', channel: 'WEBHOOK' },
      });
      expect(campaign.campaign).toBeNull();
      expect(campaign.userErrors).toEqual([
        {
          field: ['input', 'channel'],
          code: 'FORBIDDEN',
          message: `the WEBHOOK channel's provider (CAMPAIGN_WEBHOOK_URL) is refused: 127.0.0.1 is a loopback address, which outbound webhooks may not reach ${ALLOWED_BY}`,
        },
      ]);

      const { rule } = await createRule(t, {
        name: 'Welcome through the provider',
        trigger: { type: 'CUSTOMER_CREATED' },
        actions: [{ type: 'SEND_MESSAGE', channel: 'WEBHOOK', message: 'Hi {{name}}' }],
      });
      await createCustomer(t, { name: 'Welcome Probe' });
      const failed = await eventually(
        async () =>
          (
            await t.graphql<{ automationRule: { failedSteps: Array<{ attempts: number; lastError: string }> } }>(
              'query($id: ID!) { automationRule(id: $id) { failedSteps { attempts lastError } } }',
              { id: rule!.id },
            )
          ).body.data!.automationRule.failedSteps,
        (steps) => steps.length === 1,
      );
      expect(failed[0]!.lastError).toBe(
        `refused: 127.0.0.1 is a loopback address, which outbound webhooks may not reach ${ALLOWED_BY}`,
      );
      expect(receiver.requests).toEqual([]);
    });
  });

  describe('in production, with the receiver in WEBHOOK_ALLOWED_HOSTS', () => {
    // The receiver's URL is known once it listens (the outer beforeAll).
    const t = useTestServer(() => ({
      env: {
        NODE_ENV: 'production',
        WEBHOOK_ALLOWED_HOSTS: 'hooks.internal, 127.0.0.1',
        AUTOMATION_POLL_MS: '30',
        CAMPAIGN_POLL_MS: '50',
        WEBHOOK_RETRY_BASE_MS: '60000',
        CAMPAIGN_WEBHOOK_URL: receiver.url('/redirect'),
        CAMPAIGN_WEBHOOK_SECRET: PROVIDER_SECRET,
        CAMPAIGN_WEBHOOK_RETRY_BASE_MS: '5',
      },
    }));
    beforeAll(() => {
      receiver.requests.length = 0;
    });

    it('delivers to an allowed host, though it is a loopback address', async () => {
      const { endpoint, userErrors } = await createEndpoint(t, receiver.url('/hook'));
      expect(userErrors).toEqual([]);
      await createCustomer(t, { name: 'Allowed Probe' });
      expect(await firstAttempt(t, endpoint!.id)).toEqual({
        status: 'SUCCEEDED',
        attempts: 1,
        responseCode: 200,
        lastError: null,
      });
      expect(receiver.requests).toEqual(['/hook']);
      await t.graphql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { endpoint { id } } }', {
        id: endpoint!.id,
      });
    });

    it('does not follow a redirect: the delivery fails with the 3xx recorded', async () => {
      receiver.requests.length = 0;
      const { endpoint } = await createEndpoint(t, receiver.url('/redirect'));
      await createCustomer(t, { name: 'Redirected Probe' });
      expect(await firstAttempt(t, endpoint!.id)).toEqual({
        status: 'PENDING',
        attempts: 1,
        responseCode: 307,
        lastError: 'the endpoint answered HTTP 307 (redirects are not followed)',
      });
      expect(receiver.requests).toEqual(['/redirect']);
      await t.graphql('mutation($id: ID!) { deleteWebhookEndpoint(id: $id) { endpoint { id } } }', {
        id: endpoint!.id,
      });
    });

    it('a campaign provider that redirects fails each delivery at once, without following', async () => {
      receiver.requests.length = 0;
      const campaign = await createCampaign(t, {
        name: 'Redirected campaign',
        targetSegments: ['NEW'],
        message: 'Hi {{name}}',
        channel: 'WEBHOOK',
      });
      await campaignMutation(t, 'executeCampaign', { id: campaign.id });
      const done = await settled(t, campaign.id);
      expect(done.stats).toMatchObject({ targeted: 2, sent: 2, delivered: 0, failed: 2 });
      for (const delivery of await allDeliveries(t, campaign.id))
        expect(delivery).toMatchObject({
          status: 'FAILED',
          attempts: 1,
          error: 'the provider answered HTTP 307 (redirects are not followed)',
        });
      expect(receiver.requests).toEqual(['/redirect', '/redirect']);
    });
  });

  describe('in development', () => {
    const t = useTestServer({ env: { NODE_ENV: 'development', AUTOMATION_POLL_MS: '30' } });
    beforeAll(() => {
      receiver.requests.length = 0;
    });

    it('delivers to a local receiver', async () => {
      const { endpoint, userErrors } = await createEndpoint(t, receiver.url('/hook'));
      expect(userErrors).toEqual([]);
      await createCustomer(t, { name: 'Local Probe' });
      expect(await firstAttempt(t, endpoint!.id)).toMatchObject({ status: 'SUCCEEDED', responseCode: 200 });
      expect(receiver.requests).toEqual(['/hook']);
    });
  });

  describe('the address policy', () => {
    it('names what makes an address unfit, and lets global unicast through', () => {
      const kinds = Object.fromEntries(
        [
          '127.0.0.1',
          '::1',
          '::ffff:127.0.0.1',
          '10.1.2.3',
          '172.16.0.1',
          '192.168.0.1',
          'fc00::1',
          '169.254.10.1',
          'fe80::1',
          '169.254.169.254',
          'fd00:ec2::254',
          '100.100.100.200',
          '100.64.0.1',
          '0.0.0.0',
          '::',
          '64:ff9b::a00:1',
          '8.8.8.8',
          '2606:4700:4700::1111',
        ].map((a) => [a, forbiddenAddressKind(a)]),
      );
      expect(kinds).toEqual({
        '127.0.0.1': 'a loopback address',
        '::1': 'a loopback address',
        '::ffff:127.0.0.1': 'a loopback address',
        '10.1.2.3': 'a private address',
        '172.16.0.1': 'a private address',
        '192.168.0.1': 'a private address',
        'fc00::1': 'a private address',
        '169.254.10.1': 'a link-local address',
        'fe80::1': 'a link-local address',
        '169.254.169.254': 'a cloud metadata address',
        'fd00:ec2::254': 'a cloud metadata address',
        '100.100.100.200': 'a cloud metadata address',
        '100.64.0.1': 'a shared (CGNAT) address',
        '0.0.0.0': 'the unspecified address',
        '::': 'the unspecified address',
        '64:ff9b::a00:1': 'a private address', // NAT64 of 10.0.0.1
        '8.8.8.8': null,
        '2606:4700:4700::1111': null,
      });
    });

    it('outside production a local target is reached, with a warning in the log once per host', async () => {
      const warnings: Array<{ host: string; msg: string }> = [];
      const logger = pino({ level: 'warn' }, { write: (line: string) => void warnings.push(JSON.parse(line)) });
      const client = createOutboundHttp({ policy: loadConfig({}).webhooks.outbound, logger });
      for (let i = 0; i < 2; i++)
        expect(await client.post(receiver.url('/hook'), { headers: {}, body: '{}', timeoutMs: 5_000 })).toEqual({
          status: 200,
        });
      expect(warnings).toEqual([
        expect.objectContaining({ host: '127.0.0.1', msg: expect.stringMatching(/refused in production/) }),
      ]);
    });

    it('production refuses by default; WEBHOOK_ALLOW_PRIVATE and WEBHOOK_ALLOWED_HOSTS are checked at start', () => {
      expect(loadConfig({ NODE_ENV: 'production' }).webhooks.outbound).toEqual({
        allowPrivate: false,
        allowedHosts: [],
      });
      expect(loadConfig({ WEBHOOK_ALLOW_PRIVATE: 'false' }).webhooks.outbound.allowPrivate).toBe(false);
      expect(
        loadConfig({ WEBHOOK_ALLOWED_HOSTS: 'Hooks.Internal, [::1],10.0.0.7' }).webhooks.outbound.allowedHosts,
      ).toEqual(['hooks.internal', '::1', '10.0.0.7']);
      for (const bad of ['https://hooks.internal/', 'hooks.internal:8080', 'user@hooks.internal'])
        expect(() => loadConfig({ WEBHOOK_ALLOWED_HOSTS: bad })).toThrow(
          /WEBHOOK_ALLOWED_HOSTS: .* is not a host name/,
        );
    });
  });
});
