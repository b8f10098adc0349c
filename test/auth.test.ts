/**
 * Access control through the public API: sign-in, the role matrix for each
 * capability, allowed and denied, over HTTP and WebSocket, and ANALYST masking.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { getDirective } from '@graphql-tools/utils';
import {
  getNamedType,
  isObjectType,
  parse,
  Kind,
  type GraphQLField,
  type ObjectTypeDefinitionNode,
  type ObjectTypeExtensionNode,
} from 'graphql';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { buildSchema } from '../src/app/schema.js';
import { projectRoot } from '../src/shared/paths.js';
import { createCustomer, recordPurchase } from './helpers/crm.js';
import { spawnEntryPoint } from './helpers/process.js';
import { takeSubscription, useTestServer } from './helpers/server.js';

const ROLES = ['ADMIN', 'SALES', 'MARKETING', 'SUPPORT', 'ANALYST'] as const;
type Role = (typeof ROLES)[number];
const SEE_MONEY = ['ADMIN', 'SALES', 'MARKETING', 'ANALYST'] as const;

/**
 * The fields that carry personal data or money, found by name and type so that a new one is
 * found too. Personal data: a person's name, contact details (e-mail, phone, address) and free
 * text about them (description, message, body). Money: a Money value or a KPI of them
 * (`Money…` types), and anything named for amounts, purchases or revenue.
 */
const PERSONAL = /^(name|description|message|body)$|email|phone|address/i;
const MONEY_NAME = /amount|purchase|revenue/i;
const isSensitive = (field: GraphQLField<unknown, unknown>) =>
  PERSONAL.test(field.name) || MONEY_NAME.test(field.name) || getNamedType(field.type).name.startsWith('Money');

/** Fields the patterns find that carry no one's personal data or money, each with the reason. */
const NOT_SENSITIVE: Record<string, string> = {
  'Money.amount': 'a part of a Money value: guarded on every field that returns the Money',
  'UserError.message': 'an error message for the caller',
  'Campaign.name': "the campaign's own name",
  'Campaign.message': "the template, before any recipient's data is filled in",
  'AutomationRule.name': "the rule's own name",
  'AutomationAction.message': "the template, before any customer's data is filled in",
  'ApiKey.name': "the key's own name",
  // `login` is @public and `me` is any signed-in user's own record: no role list fits them.
  'User.name': 'a User is shown only to that user and to ADMINs (the next test keeps it so)',
  'User.email': 'a User is shown only to that user and to ADMINs (the next test keeps it so)',
};

describe('access control', () => {
  const t = useTestServer();
  let customerId: string;
  const tokens = {} as Record<Role, string>;

  beforeAll(async () => {
    for (const role of ROLES) tokens[role] = await t.tokenFor(role);
    customerId = (
      await createCustomer(t, { name: 'Private Person', email: 'kim.private@example.com', phone: '010-2222-1111' })
    ).id;
    await recordPurchase(t, { customerId, amount: '25000' });
  });

  const as = (role: Role | null, query: string, variables?: Record<string, unknown>) =>
    t.graphql(query, variables, { authorization: role ? `Bearer ${tokens[role]}` : '' });

  it('marks every root field with @auth or @public', () => {
    const unmarked: string[] = [];
    for (const file of readdirSync(path.join(projectRoot, 'schema')).filter((f) => f.endsWith('.graphql'))) {
      const doc = parse(readFileSync(path.join(projectRoot, 'schema', file), 'utf8'));
      for (const def of doc.definitions) {
        if (def.kind !== Kind.OBJECT_TYPE_DEFINITION && def.kind !== Kind.OBJECT_TYPE_EXTENSION) continue;
        const type = def as ObjectTypeDefinitionNode | ObjectTypeExtensionNode;
        if (!['Query', 'Mutation', 'Subscription'].includes(type.name.value)) continue;
        for (const field of type.fields ?? []) {
          if (!field.directives?.some((d) => d.name.value === 'auth' || d.name.value === 'public'))
            unmarked.push(`${type.name.value}.${field.name.value}`);
        }
      }
    }
    expect(unmarked).toEqual([]);
  });

  it('guards every field that carries personal data or money with @auth and its roles', () => {
    const schema = buildSchema();
    const unguarded: string[] = [];
    const exempted: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields())) {
        if (!isSensitive(field)) continue;
        const coordinate = `${type.name}.${field.name}`;
        if (NOT_SENSITIVE[coordinate]) exempted.push(coordinate);
        else if (!(getDirective(schema, field, 'auth')?.[0] as { roles?: Role[] } | undefined)?.roles?.length)
          unguarded.push(coordinate);
      }
    }
    expect(unguarded).toEqual([]);
    expect(exempted.sort()).toEqual(Object.keys(NOT_SENSITIVE).sort()); // no stale exemption
  });

  it('shows a User (e-mail, role, last login) only to that user and to ADMINs', () => {
    const schema = buildSchema();
    const returningUser: string[] = [];
    for (const type of Object.values(schema.getTypeMap())) {
      if (!isObjectType(type) || type.name.startsWith('__')) continue;
      for (const field of Object.values(type.getFields()))
        if (getNamedType(field.type).name === 'User') returningUser.push(`${type.name}.${field.name}`);
    }
    // me and login: the viewer's own record; users: ADMIN; UserPayload: the ADMIN-only user mutations.
    expect(returningUser.sort()).toEqual(['LoginPayload.user', 'Query.me', 'Query.users', 'UserPayload.user']);
    const mutation = schema.getMutationType()!.getFields();
    const returningPayload = Object.values(mutation).filter((f) => getNamedType(f.type).name === 'UserPayload');
    for (const field of returningPayload)
      expect([field.name, getDirective(schema, field, 'auth')?.[0]]).toEqual([field.name, { roles: ['ADMIN'] }]);
  });

  it("shows other roles a task's assignee by name only, and lets them assign only their department", async () => {
    const idOf = async (role: Role) => ((await as(role, '{ me { id } }')).body.data as { me: { id: string } }).me.id;
    const [supportId, salesId] = [await idOf('SUPPORT'), await idOf('SALES')];
    const create = (role: Role, assigneeId: string) =>
      as(
        role,
        'mutation($input: CreateTaskInput!) { createTask(input: $input) { task { id assignee { id name } } userErrors { field message code } } }',
        { input: { title: 'Call back', department: 'SUPPORT', assigneeId } },
      );
    const mine = await create('SUPPORT', supportId);
    expect(mine.body.data).toEqual({
      createTask: {
        task: { id: expect.any(String), assignee: { id: supportId, name: 'SUPPORT user' } },
        userErrors: [],
      },
    });
    const details = await as('SUPPORT', '{ tasks { edges { node { assignee { email role lastLoginAt } } } } }');
    expect(details.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');

    // Another department's colleague answers like an id no one has: no way to probe who exists.
    const unknownId = Buffer.from('User:000000000000000000000000').toString('base64url');
    const [colleague, unknown] = [await create('SUPPORT', salesId), await create('SUPPORT', unknownId)];
    expect(colleague.body.data).toEqual(unknown.body.data);
    expect(colleague.body.data).toEqual({
      createTask: {
        task: null,
        userErrors: [
          {
            field: ['input', 'assigneeId'],
            message: 'no active colleague of this department has this id',
            code: 'NOT_FOUND',
          },
        ],
      },
    });
    const byAdmin = await create('ADMIN', salesId);
    expect(byAdmin.body.data).toMatchObject({ createTask: { task: { assignee: { id: salesId } }, userErrors: [] } });
  });

  it('answers UNAUTHENTICATED without a token or with a bad one, and lets anyone sign in', async () => {
    expect((await as(null, '{ customers { totalCount } }')).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const forged = await t.graphql('{ customers { totalCount } }', undefined, { authorization: 'Bearer not.a.token' });
    expect(forged.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const wrong = await as(
      null,
      'mutation { login(email: "admin@pulse.test", password: "nope") { token userErrors { code message } } }',
    );
    expect(wrong.body.data).toEqual({
      login: { token: null, userErrors: [{ code: 'INVALID_CREDENTIALS', message: 'wrong email or password' }] },
    });
    const me = await as('SALES', '{ me { email role isActive } }');
    expect(me.body.data).toEqual({ me: { email: 'sales@pulse.test', role: 'SALES', isActive: true } });
  });

  // Each capability of the access rules and the roles allowed it.
  const matrix: Array<[string, readonly Role[], () => [string, Record<string, unknown>?]]> = [
    ['read customers', ROLES, () => ['query($id: ID!) { customer(id: $id) { name } }', { id: customerId }]],
    [
      'purchase totals',
      ['ADMIN', 'SALES', 'MARKETING', 'ANALYST'],
      () => ['query($id: ID!) { customer(id: $id) { totalPurchases { amount } } }', { id: customerId }],
    ],
    [
      'insights',
      ['ADMIN', 'SALES', 'MARKETING', 'ANALYST'],
      () => ['query($id: ID!) { customerInsights(id: $id) { churnRisk } }', { id: customerId }],
    ],
    ['segment summaries', ['ADMIN', 'SALES', 'MARKETING', 'ANALYST'], () => ['{ segmentSummary { count } }']],
    [
      'order customers by purchase totals',
      SEE_MONEY,
      () => ['{ customers(first: 1, orderBy: { field: TOTAL_PURCHASES }) { totalCount } }'],
    ],
    [
      'filter customers by purchase totals',
      SEE_MONEY,
      () => ['{ customers(filter: { minTotalPurchases: "1" }) { totalCount } }'],
    ],
    [
      'purchase amounts on the timeline',
      SEE_MONEY,
      () => [
        'query($id: ID!) { interactions(filter: { customerId: $id, types: [PURCHASE] }) { edges { node { amount { amount } } } } }',
        { id: customerId },
      ],
    ],
    ['the segment thresholds in money', SEE_MONEY, () => ['{ segmentPolicy { vipMinTotalPurchases { amount } } }']],
    [
      'create customers',
      ['ADMIN', 'SALES', 'SUPPORT'],
      () => ['mutation { createCustomer(input: { name: "By Role" }) { userErrors { code } } }'],
    ],
    [
      'update customers',
      ['ADMIN', 'SALES', 'SUPPORT'],
      () => [
        'mutation($id: ID!) { updateCustomer(id: $id, input: { tags: ["x"] }) { userErrors { code } } }',
        { id: customerId },
      ],
    ],
    [
      'record purchases',
      ['ADMIN', 'SALES'],
      () => [
        'mutation($id: ID!) { recordPurchase(input: { customerId: $id, amount: "100", channel: WEB }) { userErrors { code } } }',
        { id: customerId },
      ],
    ],
    [
      'record other interactions',
      ['ADMIN', 'SALES', 'SUPPORT'],
      () => [
        'mutation($id: ID!) { recordInteraction(input: { customerId: $id, type: SUPPORT, channel: PHONE }) { userErrors { code } } }',
        { id: customerId },
      ],
    ],
    [
      'record MARKETING interactions',
      ['ADMIN', 'SALES', 'MARKETING', 'SUPPORT'],
      () => [
        'mutation($id: ID!) { recordInteraction(input: { customerId: $id, type: MARKETING, channel: EMAIL }) { userErrors { code } } }',
        { id: customerId },
      ],
    ],
    [
      'segment policy changes',
      ['ADMIN'],
      () => ['mutation { updateSegmentPolicy(input: { loyalMinPurchases: 5 }) { userErrors { code } } }'],
    ],
    ['run the sweep', ['ADMIN'], () => ['mutation { sweepSegments { changedCount } }']],
    ['manage users', ['ADMIN'], () => ['{ users { email } }']],
  ];

  for (const [capability, allowed, operation] of matrix) {
    it(`${capability}: allowed for ${allowed.join(', ')}; FORBIDDEN for the others, over HTTP and WebSocket`, async () => {
      for (const role of ROLES) {
        const [query, variables] = operation();
        const res = await as(role, query, variables);
        const code = res.body.errors?.[0]?.extensions?.code;
        if (allowed.includes(role)) expect([role, res.body.errors]).toEqual([role, undefined]);
        else expect([role, code]).toEqual([role, 'FORBIDDEN']);

        const ws = t.wsClient({ connectionParams: { authorization: `Bearer ${tokens[role]}` } });
        const [viaWs] = await takeSubscription(ws, query, 1, variables);
        if (allowed.includes(role)) expect(['ws', role, viaWs?.errors]).toEqual(['ws', role, undefined]);
        else expect(['ws', role, viaWs?.errors?.[0]?.extensions?.code]).toEqual(['ws', role, 'FORBIDDEN']);
      }
    });
  }

  it('names the argument a role may not use', async () => {
    const res = await as(
      'SUPPORT',
      '{ customers(orderBy: { field: TOTAL_PURCHASES, direction: ASC }) { totalCount } }',
    );
    expect(res.body.errors?.[0]).toMatchObject({
      message: 'Your role may not use orderBy.field = TOTAL_PURCHASES: it refers to data your role may not see.',
      extensions: { code: 'FORBIDDEN' },
    });
  });

  it('masks email and phone for ANALYST, and only for ANALYST', async () => {
    const q = 'query($id: ID!) { customer(id: $id) { email phone } }';
    expect((await as('ANALYST', q, { id: customerId })).body.data).toEqual({
      customer: { email: 'k***@example.com', phone: '+8210****1111' },
    });
    expect((await as('SUPPORT', q, { id: customerId })).body.data).toEqual({
      customer: { email: 'kim.private@example.com', phone: '+821022221111' },
    });
  });

  it('closes a WebSocket whose connection_init carries no valid token with 4403', async () => {
    for (const connectionParams of [{}, { authorization: 'Bearer forged' }]) {
      const code = await new Promise<number>((resolve) => {
        const client = createClient({
          url: t.wsUrl,
          webSocketImpl: WebSocket,
          retryAttempts: 0,
          lazy: false,
          onNonLazyError: () => {}, // the close code is what this test reads
          connectionParams,
          on: { closed: (e) => resolve((e as { code: number }).code) },
        });
        client.subscribe(
          { query: 'subscription { segmentChanged { to } }' },
          { next: () => {}, error: () => {}, complete: () => {} },
        );
      });
      expect(code).toBe(4403);
    }
  });

  it('applies roles and masking to subscriptions too', async () => {
    const analyst = t.wsClient({ connectionParams: { authorization: `Bearer ${tokens.ANALYST}` } });
    const support = t.wsClient({ connectionParams: { authorization: `Bearer ${tokens.SUPPORT}` } });
    type Event = {
      segmentChanged: { customer: { name: string; email: string; totalPurchases: { amount: string } | null } };
    };
    const areSubscribed = t.subscriptionsStarted(2);
    const analystEvents = takeSubscription<Event>(
      analyst,
      'subscription { segmentChanged { customer { name email totalPurchases { amount } } } }',
      1,
    );
    const supportEvents = takeSubscription<Event>(
      support,
      'subscription { segmentChanged { customer { name email totalPurchases { amount } } } }',
      1,
    );
    // The subscriptions start after their handshakes: one customer created after both did.
    await areSubscribed;
    await createCustomer(t, { name: 'Masked', email: 'masked@example.com' });
    const [[forAnalyst], [forSupport]] = await Promise.all([analystEvents, supportEvents]);
    expect(forAnalyst?.data?.segmentChanged.customer).toMatchObject({
      email: expect.stringMatching(/^m\*\*\*@example\.com$/),
      totalPurchases: { amount: '0' },
    });
    expect(forSupport?.data?.segmentChanged.customer).toMatchObject({
      email: expect.stringMatching(/^masked@example\.com$/),
      totalPurchases: null,
    });
    expect(forSupport?.errors).toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'FORBIDDEN' }) }),
    ]);
  });

  it('validates user changes with userErrors', async () => {
    const me = await as('SALES', '{ me { id } }');
    const id = (me.body.data as { me: { id: string } }).me.id;
    const res = await as(
      'ADMIN',
      'mutation($id: ID!) { updateUser(id: $id, input: { name: "   ", password: "short" }) { userErrors { field code } } }',
      { id },
    );
    expect(res.body.data).toEqual({ updateUser: { userErrors: [{ field: ['input', 'name'], code: 'INVALID' }] } });
    const weak = await as(
      'ADMIN',
      'mutation { createUser(input: { email: "x@pulse.test", name: "X", role: SALES, password: "short" }) { userErrors { field code } } }',
    );
    expect(weak.body.data).toEqual({ createUser: { userErrors: [{ field: ['input', 'password'], code: 'INVALID' }] } });
  });

  it('stops a deactivated user at once', async () => {
    const me = await as('MARKETING', '{ me { id } }');
    const id = (me.body.data as { me: { id: string } }).me.id;
    const res = await as(
      'ADMIN',
      'mutation($id: ID!) { deactivateUser(id: $id) { user { isActive } userErrors { code } } }',
      { id },
    );
    expect(res.body.data).toEqual({ deactivateUser: { user: { isActive: false }, userErrors: [] } });
    expect((await as('MARKETING', '{ me { id } }')).body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });
});

describe('production start', () => {
  it('refuses to start without JWT_SECRET', async () => {
    const api = spawnEntryPoint('src/main.ts', {
      NODE_ENV: 'production',
      JWT_SECRET: undefined,
      MONGODB_URI: process.env.MONGODB_URI,
      MONGODB_DB: 'test_auth_prod',
    });
    expect((await api.exited).code).toBe(1);
    expect(api.output().stderr).toMatch(/JWT_SECRET is required in production/);
  });
});
