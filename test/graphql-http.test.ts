/**
 * GraphQL over HTTP conformance: the graphql-http package's server audits against the running
 * server. Every MUST passes; the SHOULDs that fail are listed in the README with the reason.
 */
import { beforeAll, describe, expect, it } from '@jest/globals';
import { serverAudits } from 'graphql-http';
import { useTestServer } from './helpers/server.js';

describe('GraphQL over HTTP audits', () => {
  const t = useTestServer();
  let results: Array<{ id: string; name: string; status: 'ok' | 'notice' | 'warn' | 'error'; reason?: string }>;
  beforeAll(async () => {
    const audits = serverAudits({ url: t.url, fetchFn: fetch });
    results = [];
    for (const audit of audits) {
      const r = await audit.fn();
      results.push({
        id: audit.id,
        name: audit.name,
        status: r.status,
        ...('reason' in r ? { reason: String(r.reason) } : {}),
      });
    }
  });

  it('passes every MUST audit', () => {
    const failedMusts = results.filter((r) => r.name.startsWith('MUST') && r.status !== 'ok');
    expect(failedMusts).toEqual([]);
  });

  it('fails only the SHOULD and MAY audits the README lists', () => {
    const failedShoulds = results.filter((r) => !r.name.startsWith('MUST') && r.status !== 'ok').map((r) => r.id);
    expect(failedShoulds.sort()).toEqual(KNOWN_SHOULD_FAILURES.sort());
  });
});

/** The README's "GraphQL over HTTP" section explains each. */
const KNOWN_SHOULD_FAILURES: string[] = [
  // MAY accept GETs without a CSRF-preventing header (form-encoded, or with variables): CSRF
  // prevention refuses GETs that a browser could send cross-site.
  '5A70',
  'D6D5',
  '6A70',
];
