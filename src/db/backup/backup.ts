import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.js';
import { projectRoot } from '../../shared/paths.js';
import { FERRETDB_VERSION } from '../ferretdb/build.js';
import { BackupRefusedError, backupToolFor, runBackupTool, type Print } from './tool.js';

/** The engine keeps one SQLite file per MongoDB database, named after it. */
const DATABASE_FILE = /^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.sqlite$/;

/** What db:backup says when the API uses a MongoDB server: the server's own tools back it up. */
export function mongodumpAdvice(config: Config): string {
  return (
    'MONGODB_URI is set: this API keeps its data in that MongoDB server, not in the embedded database, ' +
    'so db:backup has nothing to copy. Back the server up with its own tool, for example\n' +
    `  mongodump --uri="$MONGODB_URI" --db=${config.mongodbDb} --gzip --archive=pulse-crm.mongodump.gz\n` +
    'and restore it with mongorestore (see docs/BACKUP.md).'
  );
}

/** The engine's database files in the data folder: every MongoDB database it serves. */
export async function databaseFilesIn(dataDir: string): Promise<string[]> {
  if (!existsSync(dataDir)) return [];
  const names = await readdir(dataDir);
  return names
    .filter((n) => DATABASE_FILE.test(n))
    .sort()
    .map((n) => path.join(dataDir, n));
}

async function appVersion(): Promise<string> {
  const pkg = JSON.parse(await readFile(path.join(projectRoot, 'package.json'), 'utf8')) as { version?: string };
  return pkg.version ?? 'unknown';
}

/**
 * Writes a backup of the embedded database to `file`: one point in time across every database
 * file in the data folder, taken while the engine keeps serving (or with no engine running).
 */
export async function backUpEmbeddedDatabase(config: Config, file: string, print: Print): Promise<void> {
  if (config.mongodbUri) throw new BackupRefusedError(mongodumpAdvice(config));
  const out = path.resolve(file);
  if (existsSync(out)) throw new BackupRefusedError(`${out} already exists: choose another name or remove it first.`);
  if (!existsSync(path.dirname(out))) throw new BackupRefusedError(`the folder ${path.dirname(out)} does not exist.`);
  const databases = await databaseFilesIn(config.dataDir);
  if (databases.length === 0)
    throw new BackupRefusedError(
      `there is no embedded database in ${config.dataDir} (no *.sqlite file): is CRM_DATA_DIR right?`,
    );
  if (!databases.some((d) => path.basename(d) === `${config.mongodbDb}.sqlite`))
    print(`note: ${config.dataDir} holds no database "${config.mongodbDb}" (MONGODB_DB); backing up what is there.`);

  const meta = {
    app: 'pulse-crm',
    appVersion: await appVersion(),
    engine: `FerretDB ${FERRETDB_VERSION} (SQLite)`,
    database: config.mongodbDb,
    dataDir: config.dataDir,
  };
  print(`backing up ${databases.map((d) => path.basename(d)).join(', ')} from ${config.dataDir} to ${out}`);
  const tool = await backupToolFor(config, print);
  await runBackupTool(tool, ['backup', '-out', out, '-meta', JSON.stringify(meta), ...databases], print);
}
