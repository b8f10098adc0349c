/** In production the schema is not advertised: no introspection, no GraphiQL, no field hints. */
import { describe, expect, it } from '@jest/globals';
import { useTestServer } from './helpers/server.js';

describe('production mode', () => {
  const t = useTestServer({ env: { NODE_ENV: 'production' } });

  it('refuses introspection', async () => {
    const res = await t.graphql('{ __schema { types { name } } }');
    expect(res.body.errors?.[0]?.extensions?.code).toBe('GRAPHQL_VALIDATION_FAILED');
  });

  it('gives no "Did you mean" hints', async () => {
    const res = await t.graphql('{ customerz { totalCount } }');
    expect(res.body.errors?.[0]?.message).toBe('Cannot query field "customerz" on type "Query".');
  });

  it('does not serve GraphiQL', async () => {
    const res = await fetch(t.url, { headers: { accept: 'text/html' } });
    expect(res.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
  });
});
