/**
 * `npm run db`: the embedded engine alone, in the foreground, so several API processes
 * can share one database (start each with the printed MONGODB_URI).
 * `npm run engine:build`: only build (or find) the cached engine binary.
 */
import { loadConfig } from '../config.js';
import { ensureFerretDbBinary } from './ferretdb/build.js';
import { startFerretDb } from './ferretdb/engine.js';

async function main(): Promise<void> {
  const config = loadConfig();
  const built = config.ferretdbBinary ?? (await ensureFerretDbBinary({ cacheDir: config.engineCacheDir })).path;
  if (process.argv.includes('--build-only')) {
    console.log(built);
    return;
  }
  const port = process.env.CRM_DB_PORT ? Number(process.env.CRM_DB_PORT) : undefined;
  const engine = await startFerretDb({
    binary: built,
    dataDir: config.dataDir,
    port,
    onLog: (line) => process.stderr.write(`[ferretdb] ${line}\n`),
  });
  const shutdown = () => {
    engine.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  // Before the URI is printed: whoever reads it may signal us at once.
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  console.log(`MONGODB_URI=${engine.uri}`);
  console.error(`embedded FerretDB serving ${engine.dataDir}; Ctrl-C or SIGTERM stops it`);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
