// Jest loads its global setup outside its module system (no TS path mapping there), so the
// project's TypeScript is loaded through tsx.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { tsImport } from 'tsx/esm/api';

/**
 * One embedded engine for the whole run, on a throw-away data folder; each test file uses
 * its own database name on it. With MONGODB_URI already set, that database is used instead.
 * CRM_FERRETDB_BIN runs the suite against another engine build (for example the unpatched
 * one, to see the engine regression tests fail).
 */
export default async function globalSetup() {
  // Two browser test files run in parallel workers: Debian's chromium is installed here, once,
  // before them (two apt-get runs at once fail on dpkg's lock). A failure is left for the
  // browser tests themselves to report.
  const { ensureChromium } = await tsImport('./chromium.ts', import.meta.url);
  await ensureChromium().catch(() => {});
  if (process.env.MONGODB_URI) return;
  const { ensureFerretDbBinary } = await tsImport('../../src/db/ferretdb/build.ts', import.meta.url);
  const { startFerretDb } = await tsImport('../../src/db/ferretdb/engine.ts', import.meta.url);
  const binary =
    process.env.CRM_FERRETDB_BIN ?? (await ensureFerretDbBinary({ cacheDir: process.env.CRM_ENGINE_CACHE_DIR })).path;
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-test-'));
  const engine = await startFerretDb({ binary, dataDir });
  globalThis.__pulseEngine = engine;
  // Workers start after this and inherit the environment.
  process.env.MONGODB_URI = engine.uri;
  process.env.PULSE_TEST_ENGINE_BINARY = binary;
}
