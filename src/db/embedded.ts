import type { Config } from '../config.js';
import type { Logger } from '../shared/logger.js';
import { ensureFerretDbBinary } from './ferretdb/build.js';
import { startFerretDb, type RunningEngine } from './ferretdb/engine.js';

export type DatabaseTarget = {
  uri: string;
  kind: 'embedded' | 'external';
  /** Present when this process started the engine and must stop it. */
  engine?: RunningEngine;
};

/**
 * With MONGODB_URI set, that database is used and nothing is started. Otherwise the
 * embedded FerretDB engine is built if missing (cached) and started on the data folder.
 */
export async function startEmbeddedDbIfNeeded(config: Config, logger: Logger): Promise<DatabaseTarget> {
  if (config.mongodbUri) return { uri: config.mongodbUri, kind: 'external' };

  const binary = config.ferretdbBinary ?? (await ensureFerretDbBinary({ cacheDir: config.engineCacheDir })).path;
  const engine = await startFerretDb({
    binary,
    dataDir: config.dataDir,
    // The engine logs at warn level; its warnings are mostly about clients hanging up.
    onLog: (line) =>
      /\b(ERROR|DPANIC|PANIC|FATAL)\b/.test(line)
        ? logger.error({ engine: 'ferretdb' }, line)
        : logger.debug({ engine: 'ferretdb' }, line),
  });
  logger.info({ dataDir: engine.dataDir, port: engine.port, binary }, 'embedded database started');
  return { uri: engine.uri, kind: 'embedded', engine };
}
