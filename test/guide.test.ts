/**
 * docs/GUIDE.md stays true: every GraphQL operation in it (and in its TypeScript sample)
 * parses and validates against the schema the server serves.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse, validate } from 'graphql';
import { buildSchema } from '../src/app/schema.js';
import { projectRoot } from '../src/shared/paths.js';
import { exampleTabs } from '../web/graphiql/examples.js';

const guide = readFileSync(path.join(projectRoot, 'docs', 'GUIDE.md'), 'utf8');
const blocks = [...guide.matchAll(/```graphql\n([\s\S]*?)```/g)].map((m) => m[1]!);
const embedded = [...guide.matchAll(/query:\s+'((?:subscription|query|mutation)[^']*)'/g)].map((m) => m[1]!);
const curl = [...guide.matchAll(/"query":"([^"]*)"/g)].map((m) => m[1]!);

describe('docs/GUIDE.md', () => {
  const schema = buildSchema();
  it('has operations to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(6);
    expect(embedded.length).toBeGreaterThanOrEqual(1);
    expect(curl.length).toBeGreaterThanOrEqual(1);
  });
  it.each([...blocks, ...embedded, ...curl].map((b, i) => [i, b] as const))(
    'operation %i validates against the schema',
    (_i, source) => {
      expect(validate(schema, parse(source)).map((e) => e.message)).toEqual([]);
    },
  );
});

describe("GraphiQL's example tabs", () => {
  const schema = buildSchema();
  it.each(exampleTabs.map((tab, i) => [i, tab.query] as const))('tab %i validates against the schema', (_i, source) => {
    expect(validate(schema, parse(source)).map((e) => e.message)).toEqual([]);
  });
});
