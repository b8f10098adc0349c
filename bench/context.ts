/**
 * What every benchmark scenario is given by bench/run.ts, and the shape it reports in.
 * A scenario module exports `async function xScenario(ctx: BenchContext): Promise<Record<string, Scenario>>`.
 */
import type { RunningServer } from '../src/app/server.js';
import type { Domain } from '../src/app/domain.js';
import type { Config } from '../src/config.js';

export type Scenario = {
  ours: number;
  baseline: number;
  unit: string;
  /** Higher is better, always (a time is inverted: baseline / ours). */
  ratio: number;
  p50Ms?: number;
  p99Ms?: number;
  baselineP99Ms?: number;
  bytesPerSubscriber?: number;
  /** Extra figures a scenario reports beside its headline (a second ratio, a reference). */
  details?: Record<string, number | string>;
  note?: string;
};

export type Role = 'ADMIN' | 'SALES' | 'MARKETING' | 'SUPPORT' | 'ANALYST';

export type BenchContext = {
  isQuick: boolean;
  /** A size for this run: `--smoke` (the smallest that still exercises the path), `--quick`, or full. */
  size<T>(sizes: { smoke: T; quick: T; full: T }): T;
  config: Config;
  /** `http://127.0.0.1:<port>/graphql` of the API under test (in this process). */
  apiUrl: string;
  /** The bench admin's bearer token. */
  token: string;
  server: RunningServer;
  domain: Domain;
  /** The engine's connection string (a second API instance may be started on it). */
  databaseUri: string;
  dbName: string;
  /** One GraphQL request (as the bench admin unless a token is given); throws on errors. */
  graphql<T>(query: string, variables?: Record<string, unknown>, token?: string): Promise<T>;
  /** A signed-in user with that role (created on first use); its bearer token. */
  tokenFor(role: Role): Promise<string>;
  /**
   * Our own background work finished: every event-log consumer at the end of the log, the
   * automation steps and webhook deliveries run, the campaign runner idle, and nothing
   * appended meanwhile. Call before timing any baseline.
   */
  settle(): Promise<void>;
  /** No request in flight on the API (a load generator's leftovers are done). */
  drained(): Promise<void>;
};
