import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApolloServer } from '@apollo/server';
import { ApolloServerPluginCacheControlDisabled } from '@apollo/server/plugin/disabled';
import { expressMiddleware } from '@as-integrations/express5';
import express from 'express';
import type { BenchContext, Scenario } from '../context.js';
import { inFlightCounter, timedLoad, type LoadOptions, type LoadResult } from '../lib/load.js';

const BODY = JSON.stringify({ query: '{ __typename }' });

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
}

/** The floor: a bare node:http handler that reads the body and answers the same JSON. */
async function startBareHandler() {
  const payload = JSON.stringify({ data: { __typename: 'Query' } });
  const counter = inFlightCounter();
  const server = http.createServer((req, res) => {
    counter.track(res);
    req.resume();
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end(payload));
  });
  return { url: await listen(server), drained: counter.drained, close: () => server.close() };
}

/**
 * The second reference: Apollo Server on Express with nothing else (one-field schema, cache
 * control off, no plugins, no logging): what the usual stack costs before anything of ours.
 */
async function startMinimalApollo() {
  const apollo = new ApolloServer({
    typeDefs: 'type Query { ok: Boolean }',
    plugins: [ApolloServerPluginCacheControlDisabled()],
  });
  await apollo.start();
  const app = express();
  const counter = inFlightCounter();
  app.use((_req, res, next) => {
    counter.track(res);
    next();
  });
  app.use('/graphql', express.json(), expressMiddleware(apollo));
  const server = http.createServer(app);
  return {
    url: await listen(server),
    drained: counter.drained,
    close: async () => {
      server.close();
      await apollo.stop();
    },
  };
}

/** The run whose rate is the median of the rounds (its latency with it). */
function median(runs: LoadResult[]): LoadResult {
  return [...runs].sort((a, b) => a.rate - b.rate)[Math.floor(runs.length / 2)]!;
}

/**
 * http: the smallest GraphQL operation through our whole stack, as the bench admin (token
 * checked, rate limit counted, request logged at info, metrics, audit hooks), against a bare
 * node:http handler answering the same JSON, and beside a minimal Apollo Server on Express.
 * The three take turns for a few rounds and each side's median counts: on a small machine a
 * single window of each swings by a tenth with whatever else the machine does.
 */
export async function httpScenario(ctx: BenchContext, load: LoadOptions): Promise<Record<string, Scenario>> {
  const bare = await startBareHandler();
  const apollo = await startMinimalApollo();
  const authorized = { ...load, headers: { authorization: `Bearer ${ctx.token}` } };
  const runs = { floor: [] as LoadResult[], reference: [] as LoadResult[], ours: [] as LoadResult[] };
  try {
    for (let round = 0; round < ctx.size({ smoke: 1, quick: 3, full: 3 }); round++) {
      runs.floor.push(await timedLoad(bare.url, BODY, load, bare.drained));
      runs.reference.push(await timedLoad(apollo.url, BODY, load, apollo.drained));
      runs.ours.push(await timedLoad(ctx.apiUrl, BODY, authorized, ctx.drained));
    }
    const [floor, reference, ours] = [median(runs.floor), median(runs.reference), median(runs.ours)];
    return {
      http: {
        ours: Math.round(ours.rate),
        baseline: Math.round(floor.rate),
        unit: 'req/s',
        ratio: +(ours.rate / floor.rate).toFixed(3),
        p99Ms: ours.p99Ms,
        baselineP99Ms: floor.p99Ms,
        details: {
          rounds: runs.ours.length,
          oursPerRound: runs.ours.map((r) => Math.round(r.rate)).join(' '),
          barePerRound: runs.floor.map((r) => Math.round(r.rate)).join(' '),
          minimalApolloExpress: Math.round(reference.rate),
          minimalApolloExpressRatio: +(reference.rate / floor.rate).toFixed(3),
          oursOverMinimalApollo: +(ours.rate / reference.rate).toFixed(2),
        },
        note: `{ __typename } as a signed-in admin; minimal Apollo Server on Express: ${Math.round(reference.rate)} req/s (${(reference.rate / floor.rate).toFixed(3)} of bare)`,
      },
    };
  } finally {
    bare.close();
    await apollo.close();
  }
}
