/**
 * Security at the transports, over real HTTP and real WebSockets (graphql-ws's own client, and
 * raw `ws` where a misbehaving client is the point): rights that end while a socket is open,
 * sign-in brute force, budgets per identity, caps per socket, user and address, message sizes,
 * and what production shows of itself.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from 'graphql-ws';
import WebSocket from 'ws';
import { withDeadline } from './helpers/process.js';
import { startTestServer, useTestServer, type TestServer } from './helpers/server.js';

type Closed = { code: number; reason: string };

/** A graphql-ws client for a token, and a promise of its socket's close. */
function socketFor(t: TestServer, token: string): { client: Client; closed: Promise<Closed> } {
  let resolve!: (c: Closed) => void;
  const closed = new Promise<Closed>((r) => (resolve = r));
  const client = t.wsClient({
    connectionParams: { authorization: `Bearer ${token}` },
    on: { closed: (e) => resolve({ code: (e as { code: number }).code, reason: (e as { reason: string }).reason }) },
  });
  return { client, closed };
}

/** Keeps the (lazy) socket open: a live subscription that runs until the socket ends. */
function holdOpen(client: Client): Promise<unknown> {
  return new Promise((resolve) => {
    client.subscribe(
      { query: 'subscription { interactionRecorded { interaction { id } } }' },
      { next: () => {}, error: resolve, complete: () => resolve('complete') },
    );
  });
}

/** Runs one query or mutation over the socket. */
function run(client: Client, query: string, variables?: Record<string, unknown>): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let result: unknown;
    client.subscribe(
      { query, variables },
      { next: (r) => (result = r), error: reject, complete: () => resolve(result) },
    );
  });
}

async function createUser(t: TestServer, role: string, email: string, password: string): Promise<string> {
  const res = await t.graphql<{ createUser: { user: { id: string } } }>(
    'mutation($input: CreateUserInput!) { createUser(input: $input) { user { id } userErrors { code } } }',
    { input: { email, name: `${role} person`, role, password } },
  );
  return res.body.data!.createUser.user.id;
}

async function login(t: TestServer, email: string, password: string, headers: Record<string, string> = {}) {
  return t.graphql<{ login: { token: string | null; userErrors: Array<{ code: string }> } }>(
    'mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token userErrors { code } } }',
    { e: email, p: password },
    { authorization: '', ...headers },
  );
}

describe('rights that end while a WebSocket is open', () => {
  const t = useTestServer();

  it('a deactivated user can do nothing more on its socket, which closes with 4403', async () => {
    const id = await createUser(t, 'SALES', 'leaving@pulse.test', 'password of one leaving');
    const token = (await login(t, 'leaving@pulse.test', 'password of one leaving')).body.data!.login.token!;
    const { client, closed } = socketFor(t, token);
    void holdOpen(client);
    const create = 'mutation($n: String!) { createCustomer(input: { name: $n }) { customer { id } } }';
    expect(await run(client, create, { n: 'Before leaving' })).toMatchObject({
      data: { createCustomer: { customer: {} } },
    });
    await t.graphql('mutation($id: ID!) { deactivateUser(id: $id) { userErrors { code } } }', { id });
    // Refused: the FORBIDDEN error, or the 4403 close that follows it, reaches the client first.
    await expect(run(client, create, { n: 'After leaving' })).rejects.toBeDefined();
    expect((await closed).code).toBe(4403);
    const after = await t.graphql<{ customers: { totalCount: number } }>(
      '{ customers(filter: { search: "after leaving" }) { totalCount } }',
    );
    expect(after.body.data!.customers.totalCount).toBe(0);
  });

  it('a revoked API key loses its open socket', async () => {
    const created = await t.graphql<{ createApiKey: { apiKey: { id: string }; secret: string } }>(
      'mutation { createApiKey(input: { name: "integration", role: SALES }) { apiKey { id } secret } }',
    );
    const { apiKey, secret } = created.body.data!.createApiKey;
    const { client, closed } = socketFor(t, secret);
    const held = holdOpen(client);
    expect(await run(client, '{ __typename }')).toEqual({ data: { __typename: 'Query' } });
    await t.graphql('mutation($id: ID!) { revokeApiKey(id: $id) { userErrors { code } } }', { id: apiKey.id });
    // No operation or event needed: the periodic check closes an idle socket too.
    expect((await closed).code).toBe(4403);
    await held;
  });

  it('an admin demoted to analyst loses the socket and its live events', async () => {
    const id = await createUser(t, 'ADMIN', 'demoted@pulse.test', 'password of a demoted admin');
    const token = (await login(t, 'demoted@pulse.test', 'password of a demoted admin')).body.data!.login.token!;
    const { client, closed } = socketFor(t, token);
    const ended = holdOpen(client);
    expect(await run(client, '{ users { email } }')).toMatchObject({ data: { users: expect.any(Array) } });
    await t.graphql('mutation($id: ID!) { updateUser(id: $id, input: { role: ANALYST }) { userErrors { code } } }', {
      id,
    });
    expect((await closed).code).toBe(4403);
    await ended;
    // A new connection with the same token has the analyst's rights only.
    const again = (await run(client, '{ users { email } }')) as { errors?: Array<{ extensions: { code: string } }> };
    expect(again.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
  });

  it('a password change ends the tokens issued before it', async () => {
    const id = await createUser(t, 'SUPPORT', 'changing@pulse.test', 'the first password');
    const old = (await login(t, 'changing@pulse.test', 'the first password')).body.data!.login.token!;
    expect(
      (await t.graphql('{ me { email } }', undefined, { authorization: `Bearer ${old}` })).body.errors,
    ).toBeUndefined();
    await t.graphql(
      'mutation($id: ID!) { updateUser(id: $id, input: { password: "the second password" }) { userErrors { code } } }',
      {
        id,
      },
    );
    const refused = await t.graphql('{ me { email } }', undefined, { authorization: `Bearer ${old}` });
    expect(refused.body.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    const fresh = (await login(t, 'changing@pulse.test', 'the second password')).body.data!.login.token!;
    expect(
      (await t.graphql('{ me { email } }', undefined, { authorization: `Bearer ${fresh}` })).body.errors,
    ).toBeUndefined();
  });
});

/** Password hashes computed by this process so far, from /metrics. */
async function passwordChecks(t: TestServer): Promise<number> {
  const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
  return Number(/^pulse_password_checks_total (\d+)/m.exec(text)?.[1]);
}

describe('sign-in brute force', () => {
  const t = useTestServer({
    env: { LOGIN_ATTEMPTS_PER_ADDRESS: '8', LOGIN_FAILURES_PER_ACCOUNT: '3', LOGIN_FAILURES_PER_ADDRESS: '100' },
  });
  beforeAll(async () => {
    await createUser(t, 'SALES', 'target@pulse.test', 'the right password');
  });

  it('locks an account after its failures, even for the right password, whatever headers come', async () => {
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await login(t, 'target@pulse.test', `guess ${i}`, { authorization: `Bearer junk-${i}` });
      codes.push(res.body.data?.login.userErrors[0]?.code ?? 'ok');
    }
    expect(codes).toEqual(['INVALID_CREDENTIALS', 'INVALID_CREDENTIALS', 'INVALID_CREDENTIALS']);
    const right = await login(t, 'target@pulse.test', 'the right password', { authorization: 'Bearer junk-right' });
    expect(right.body.data?.login ?? null).toBeNull();
    expect(right.body.errors?.[0]?.extensions).toMatchObject({ code: 'RATE_LIMITED' });
  });

  it('counts every aliased login field of one request, per address', async () => {
    const before = await passwordChecks(t);
    const fields = Array.from(
      { length: 30 },
      (_, i) => `a${i}: login(email: "nobody${i}@pulse.test", password: "x") { token }`,
    );
    const res = await t.graphql(`mutation { ${fields.join(' ')} }`, undefined, { authorization: '' });
    expect(res.body.errors?.some((e) => e.extensions?.code === 'RATE_LIMITED')).toBe(true);
    // 8 attempts per address in the window, 4 of them made above: at most 4 more passwords checked.
    expect((await passwordChecks(t)) - before).toBeLessThanOrEqual(4);
  });

  it('spends the same password work for an unknown address as for a known one', async () => {
    const fresh = await startTestServer({ keepData: true });
    try {
      const before = await passwordChecks(fresh);
      await login(fresh, 'no-such-person@pulse.test', 'whatever');
      // One password check, as for a known address (the counter is per process).
      expect((await passwordChecks(fresh)) - before).toBe(1);
    } finally {
      await fresh.stop({ keepData: true });
    }
  });
});

describe('WebSocket budgets and caps', () => {
  const t = useTestServer({
    env: {
      WS_MAX_SUBSCRIPTIONS_PER_SOCKET: '5',
      WS_MAX_SOCKETS_PER_USER: '2',
    },
  });

  /**
   * A raw graphql-transport-ws socket, acknowledged. `received(isDone)` resolves once the
   * messages received so far satisfy `isDone`, checked as each one arrives.
   */
  async function rawSocket(token: string): Promise<{
    socket: WebSocket;
    messages: unknown[];
    received: (isDone: (messages: unknown[]) => boolean, what: string) => Promise<void>;
    closed: Promise<number>;
  }> {
    const socket = new WebSocket(t.wsUrl, 'graphql-transport-ws');
    const messages: unknown[] = [];
    const watchers = new Set<() => void>();
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise((resolve, reject) => {
      socket.once('open', resolve);
      socket.once('error', reject);
    });
    socket.on('message', (data) => {
      messages.push(JSON.parse(String(data)));
      for (const watcher of [...watchers]) watcher();
    });
    const received = (isDone: (messages: unknown[]) => boolean, what: string) =>
      withDeadline(
        new Promise<void>((resolve) => {
          const check = () => {
            if (!isDone(messages)) return;
            watchers.delete(check);
            resolve();
          };
          watchers.add(check);
          check();
        }),
        10_000,
        what,
      );
    socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    await received((all) => all.some((m) => (m as { type: string }).type === 'connection_ack'), 'connection_ack');
    return { socket, messages, received, closed };
  }

  it('counts a burst of subscribes as it arrives', async () => {
    const { socket, messages, received, closed } = await rawSocket(t.adminToken);
    for (let i = 0; i < 40; i++)
      socket.send(
        JSON.stringify({
          id: String(i),
          type: 'subscribe',
          payload: { query: 'subscription { systemStatus(intervalSeconds: 60) { uptimeSeconds } }' },
        }),
      );
    // Every subscribe is answered: a first result, or an error.
    const answered = (all: unknown[]) =>
      new Set(all.map((m) => (m as { id?: string }).id).filter((id) => id !== undefined));
    await received((all) => answered(all).size === 40, 'an answer to each of the 40 subscribes');
    const errors = messages.filter(
      (m) => (m as { type: string }).type === 'error' && JSON.stringify(m).includes('TOO_MANY_SUBSCRIPTIONS'),
    );
    expect(errors).toHaveLength(35);
    expect(t.server.runtime.activeSubscriptions).toBeLessThanOrEqual(5);
    socket.close();
    await closed;
  });

  it('caps the sockets of one user', async () => {
    const token = await t.tokenFor('SUPPORT');
    const a = await rawSocket(token);
    const b = await rawSocket(token);
    const third = new WebSocket(t.wsUrl, 'graphql-transport-ws');
    const code = new Promise<number>((resolve) => third.once('close', (c) => resolve(c)));
    await new Promise((r) => third.once('open', r));
    third.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } }));
    expect(await code).toBe(1013);
    a.socket.close();
    b.socket.close();
    await Promise.all([a.closed, b.closed]);
  });
});

describe('sockets per address', () => {
  const t = useTestServer({ env: { WS_MAX_SOCKETS_PER_ADDRESS: '6' } });

  it('caps the sockets of one address, before they sign in', async () => {
    const sockets = Array.from({ length: 7 }, () => new WebSocket(t.wsUrl, 'graphql-transport-ws'));
    const codes = sockets.map((s) => new Promise<number>((resolve) => s.once('close', (c) => resolve(c))));
    const opened = sockets.map((s) => new Promise<void>((resolve) => s.once('open', () => resolve())));
    // All seven are open at once (the server counted each as it accepted it), then the refused
    // one is closed: only then may the others go, which would make room again.
    await Promise.all(opened);
    const refused = await withDeadline(Promise.race(codes), 10_000, 'a socket over the cap closed');
    for (const s of sockets) if (s.readyState === WebSocket.OPEN) s.close(1000);
    const all = await Promise.all(codes);
    expect(refused).toBe(1013);
    expect(all.filter((c) => c === 1013)).toHaveLength(1);
  });
});

describe('WebSocket message size', () => {
  const t = useTestServer();

  it('closes a socket that sends a message larger than an HTTP body may be', async () => {
    const socket = new WebSocket(t.wsUrl, 'graphql-transport-ws');
    const closed = new Promise<number>((resolve) => socket.once('close', (code) => resolve(code)));
    await new Promise((r) => socket.once('open', r));
    socket.send(
      JSON.stringify({
        id: 'big',
        type: 'subscribe',
        payload: { query: `{ __typename } #${'x'.repeat(2 * 1024 * 1024)}` },
      }),
    );
    expect(await closed).toBe(1009);
  });
});

describe('one request budget over HTTP and WebSocket', () => {
  const t = useTestServer({ env: { RATE_LIMIT_PER_MINUTE: '6' } });

  it('refuses WebSocket operations past the identity budget that HTTP requests also spend', async () => {
    const token = await t.tokenFor('MARKETING');
    for (let i = 0; i < 3; i++)
      expect((await t.graphql('{ __typename }', undefined, { authorization: `Bearer ${token}` })).status).toBe(200);
    const { client } = socketFor(t, token);
    for (let i = 0; i < 3; i++) expect(await run(client, '{ __typename }')).toEqual({ data: { __typename: 'Query' } });
    await expect(run(client, '{ __typename }')).rejects.toEqual([
      expect.objectContaining({ extensions: expect.objectContaining({ code: 'RATE_LIMITED' }) }),
    ]);
    expect((await t.graphql('{ __typename }', undefined, { authorization: `Bearer ${token}` })).status).toBe(429);
  });
});

describe('production shows nothing of itself', () => {
  const t = useTestServer({ env: { NODE_ENV: 'production' } });

  it('refuses introspection and gives no hints over WebSocket, as over HTTP', async () => {
    const { client } = socketFor(t, t.adminToken);
    await expect(run(client, '{ __schema { types { name } } }')).rejects.toEqual(
      expect.arrayContaining([
        expect.objectContaining({ extensions: expect.objectContaining({ code: 'GRAPHQL_VALIDATION_FAILED' }) }),
      ]),
    );
    const hinted = await run(client, '{ customerz { totalCount } }').catch((e: unknown) => e);
    expect(JSON.stringify(hinted)).not.toMatch(/Did you mean/);
    expect(JSON.stringify(hinted)).toMatch(/Cannot query field/);
  });

  it('answers malformed JSON with a JSON error and no stack', async () => {
    const res = await fetch(t.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"query": ',
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const body = (await res.json()) as { errors: Array<{ message: string; extensions: { code: string } }> };
    expect(body.errors[0]).toMatchObject({ extensions: { code: 'BAD_REQUEST' } });
    expect(JSON.stringify(body)).not.toMatch(/at .*\.js|node_modules|SyntaxError/);
  });

  it('does not serve /metrics on the API port', async () => {
    expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(404);
  });
});

describe('/metrics in production, configured', () => {
  it('is served behind METRICS_TOKEN', async () => {
    const t = await startTestServer({ env: { NODE_ENV: 'production', METRICS_TOKEN: 'metrics-token-0123456789' } });
    try {
      expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(401);
      const ok = await fetch(`${t.baseUrl}/metrics`, { headers: { authorization: 'Bearer metrics-token-0123456789' } });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/http_request_duration_seconds/);
    } finally {
      await t.stop();
    }
  });

  it('is served on METRICS_PORT only', async () => {
    const t = await startTestServer({ env: { NODE_ENV: 'production', METRICS_PORT: '0' } });
    try {
      expect((await fetch(`${t.baseUrl}/metrics`)).status).toBe(404);
      const port = t.server.metricsPort!;
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
    } finally {
      await t.stop();
    }
  });
});
