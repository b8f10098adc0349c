import type { Config } from '../config.js';
import type { Logger } from '../shared/logger.js';
import { ensureFerretDbBinary } from './ferretdb/build.js';
import { startFerretDb } from './ferretdb/engine.js';
import { superviseEngine, type EngineGaveUpError, type SupervisedEngine } from './ferretdb/supervisor.js';

export type DatabaseTarget = {
  uri: string;
  kind: 'embedded' | 'external';
  /** Present when this process started the engine (and keeps it running) and must stop it. */
  engine?: SupervisedEngine;
};

/**
 * With MONGODB_URI set, that database is used and nothing is started. Otherwise the
 * embedded FerretDB engine is built if missing (cached), started on the data folder, and
 * started again whenever it exits unexpectedly; `onGiveUp` hears when that keeps failing.
 */
export async function startEmbeddedDbIfNeeded(
  config: Config,
  logger: Logger,
  onGiveUp: (err: EngineGaveUpError) => void = () => {},
): Promise<DatabaseTarget> {
  if (config.mongodbUri) return { uri: config.mongodbUri, kind: 'external' };

  const binary = config.ferretdbBinary ?? (await ensureFerretDbBinary({ cacheDir: config.engineCacheDir })).path;
  const start = (port?: number) =>
    startFerretDb({
      binary,
      dataDir: config.dataDir,
      port,
      // The engine logs at warn level; its warnings are mostly about clients hanging up.
      onLog: (line) =>
        /\b(ERROR|DPANIC|PANIC|FATAL)\b/.test(line)
          ? logger.error({ engine: 'ferretdb' }, line)
          : logger.debug({ engine: 'ferretdb' }, line),
    });
  const first = await start();
  logger.info({ dataDir: first.dataDir, port: first.port, binary }, 'embedded database started');
  const engine = superviseEngine({ first, start, logger, onGiveUp });
  return { uri: first.uri, kind: 'embedded', engine };
}
