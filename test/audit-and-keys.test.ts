/** The audit log of mutations, API keys for integrations, and access rules over WebSocket. */
import { describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { createCustomer } from './helpers/crm.js';
import { eventually } from './helpers/process.js';
import { takeSubscription, TEST_AUTH_ENV, useTestServer } from './helpers/server.js';

type Audit = {
  auditLog: {
    edges: Array<{
      node: {
        actorRole: string;
        fields: string[];
        targetIds: string[];
        input: string;
        outcome: string;
        codes: string[];
        transport: string;
        changes: Array<{ field: string; before: string | null; after: string | null }>;
      };
    }>;
  };
};
const AUDIT =
  '{ auditLog(first: 10) { edges { node { actorRole fields targetIds input outcome codes transport changes { field before after } } } } }';

describe('audit log, API keys and WebSocket access', () => {
  const t = useTestServer();

  const latestAudit = async () => (await t.graphql<Audit>(AUDIT)).body.data!.auditLog.edges.map((e) => e.node);

  it('records every mutation: who, what, on which records, the changes, the outcome', async () => {
    const c = await createCustomer(t, { name: 'Audited', email: 'audited@example.com' });
    await t.graphql(
      'mutation($id: ID!) { updateCustomer(id: $id, input: { name: "Audited Twice", tags: ["vip"] }) { userErrors { code } } }',
      { id: c.id },
    );
    const [update, create] = await latestAudit();
    expect(create).toMatchObject({ actorRole: 'ADMIN', fields: ['createCustomer'], outcome: 'OK', transport: 'HTTP' });
    expect(update).toMatchObject({ fields: ['updateCustomer'], targetIds: [c.id], outcome: 'OK' });
    expect(update!.changes).toEqual([
      { field: 'name', before: '"Audited"', after: '"Audited Twice"' },
      { field: 'tags', before: '[]', after: '["vip"]' },
    ]);

    // Refused ones too, and passwords never.
    await t.graphql(
      'mutation { createCustomer(input: { name: "Dup", email: "audited@example.com" }) { userErrors { code } } }',
    );
    await t.graphql('mutation { login(email: "admin@pulse.test", password: "guessing") { token } }', undefined, {
      authorization: '',
    });
    const [login, duplicate] = await latestAudit();
    expect(duplicate).toMatchObject({ outcome: 'USER_ERRORS', codes: ['DUPLICATE'] });
    expect(login).toMatchObject({ actorRole: null, fields: ['login'] });
    expect(login!.input).not.toContain('guessing');
    expect(login!.input).toContain('[redacted]');
    const denied = await t.graphql('mutation { sweepSegments { changedCount } }', undefined, {
      authorization: `Bearer ${await t.tokenFor('ANALYST')}`,
    });
    expect(denied.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await latestAudit())[0]).toMatchObject({
      actorRole: 'ANALYST',
      fields: ['sweepSegments'],
      outcome: 'ERROR',
      codes: ['FORBIDDEN'],
    });
  });

  it('records mutations sent over WebSocket', async () => {
    const [result] = await takeSubscription(
      t.wsClient(),
      'mutation { createCustomer(input: { name: "Over WS" }) { customer { code } } }',
      1,
    );
    expect(result?.errors).toBeUndefined();
    expect((await latestAudit())[0]).toMatchObject({
      fields: ['createCustomer'],
      transport: 'WEBSOCKET',
      outcome: 'OK',
    });
  });

  it('issues an API key once, lets it act in its role, and stops it when revoked', async () => {
    const created = await t.graphql<{ createApiKey: { apiKey: { id: string; prefix: string }; secret: string } }>(
      'mutation { createApiKey(input: { name: "POS integration", role: SALES }) { apiKey { id prefix } secret userErrors { code } } }',
    );
    const { apiKey, secret } = created.body.data!.createApiKey;
    expect(secret.startsWith(`${apiKey.prefix}_`)).toBe(true);
    const asKey = { authorization: `Bearer ${secret}` };
    const c = await createCustomer(t, { name: 'Key Customer' });
    const purchase = await t.graphql<{ recordPurchase: { userErrors: unknown[] } }>(
      'mutation($id: ID!) { recordPurchase(input: { customerId: $id, amount: "5000", channel: STORE }) { userErrors { code } } }',
      { id: c.id },
      asKey,
    );
    expect(purchase.body.data?.recordPurchase.userErrors).toEqual([]);
    const policy = await t.graphql(
      'mutation { updateSegmentPolicy(input: { loyalMinPurchases: 6 }) { userErrors { code } } }',
      undefined,
      asKey,
    );
    expect(policy.body.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const listed = await t.graphql<{ apiKeys: Array<{ name: string; role: string; lastUsedAt: string | null }> }>(
      '{ apiKeys { name role lastUsedAt } }',
    );
    expect(listed.body.data?.apiKeys).toEqual([
      { name: 'POS integration', role: 'SALES', lastUsedAt: expect.any(String) },
    ]);
    // The secret's own part: everything after the prefix (base64url, which may hold '_' itself:
    // the part after the last '_' was once empty, which every text contains).
    expect(JSON.stringify(listed.body)).not.toContain(secret.slice(apiKey.prefix.length + 1));

    await t.graphql('mutation($id: ID!) { revokeApiKey(id: $id) { apiKey { revokedAt } } }', { id: apiKey.id });
    const after = await t.graphql('{ customers { totalCount } }', undefined, asKey);
    expect(after.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const tampered = await t.graphql('{ customers { totalCount } }', undefined, {
      authorization: `Bearer ${secret.slice(0, -2)}xx`,
    });
    expect(tampered.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
  });

  it('applies the role matrix over WebSocket as over HTTP', async () => {
    const cases: Array<[role: 'SUPPORT' | 'MARKETING' | 'ANALYST', query: string, isAllowed: boolean]> = [
      ['SUPPORT', 'mutation { createCustomer(input: { name: "WS Support" }) { userErrors { code } } }', true],
      ['MARKETING', 'mutation { createCustomer(input: { name: "WS Marketing" }) { userErrors { code } } }', false],
      ['ANALYST', '{ segmentSummary { count } }', true],
      ['SUPPORT', '{ segmentSummary { count } }', false],
      ['ANALYST', 'mutation { sweepSegments { changedCount } }', false],
    ];
    for (const [role, query, isAllowed] of cases) {
      const client = t.wsClient({ connectionParams: { authorization: `Bearer ${await t.tokenFor(role)}` } });
      const [result] = await takeSubscription(client, query, 1);
      if (isAllowed) expect([role, query, result?.errors]).toEqual([role, query, undefined]);
      else expect([role, query, result?.errors?.[0]?.extensions?.code]).toEqual([role, query, 'FORBIDDEN']);
    }
  });

  it("stops a subscription's events once its token expires", async () => {
    const me = await t.graphql<{ me: { id: string } }>('{ me { id } }');
    const userId = Buffer.from(me.body.data!.me.id, 'base64url').toString().split(':')[1]!;
    const expiresAt = Math.floor(Date.now() / 1000) + 3;
    const shortLived = await new SignJWT({ role: 'ADMIN' })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(expiresAt)
      .sign(new TextEncoder().encode(TEST_AUTH_ENV.JWT_SECRET));
    const client = t.wsClient({ connectionParams: { authorization: `Bearer ${shortLived}` } });
    const received: Array<{ data?: unknown; errors?: ReadonlyArray<{ extensions?: Record<string, unknown> }> }> = [];
    let isComplete = false;
    const isSubscribed = t.subscriptionsStarted();
    client.subscribe(
      { query: 'subscription { segmentChanged { customer { name } } }' },
      { next: (r) => void received.push(r), error: () => (isComplete = true), complete: () => (isComplete = true) },
    );
    await isSubscribed;
    await createCustomer(t, { name: 'Before Expiry' });
    await eventually(
      async () => JSON.stringify(received),
      (text) => text.includes('Before Expiry'),
    );
    expect(received[0]?.data).toBeDefined();
    await eventually(
      async () => Date.now(),
      (now) => now > expiresAt * 1000 + 100,
      10_000,
    );
    await createCustomer(t, { name: 'After Expiry' });
    await eventually(
      async () => isComplete,
      (done) => done,
      5_000,
    );
    const last = received.at(-1)!;
    expect(last.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(JSON.stringify(received)).not.toContain('After Expiry');
  });
});
