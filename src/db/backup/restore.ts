import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config.js';
import { databaseFilesIn } from './backup.js';
import { BackupRefusedError, backupToolFor, runBackupTool, type Print } from './tool.js';

/** At most this many names of what is in the way are shown. */
const LISTED_ENTRIES = 5;

function mongorestoreAdvice(config: Config): string {
  return (
    'MONGODB_URI is set: this API reads that MongoDB server, not the embedded database, so a restore ' +
    'into CRM_DATA_DIR would not be seen. Unset MONGODB_URI to restore the embedded database, or restore ' +
    'a mongodump archive into the server with, for example\n' +
    `  mongorestore --uri="$MONGODB_URI" --nsInclude='${config.mongodbDb}.*' --drop --gzip --archive=pulse-crm.mongodump.gz\n` +
    '(see docs/BACKUP.md).'
  );
}

/** Restoring never overwrites: the data folder must be missing or empty. */
async function ensureEmptyDataDir(dataDir: string): Promise<void> {
  if (!existsSync(dataDir)) return;
  const entries = (await readdir(dataDir)).sort();
  if (entries.length === 0) return;
  const shown = entries.slice(0, LISTED_ENTRIES).join(', ') + (entries.length > LISTED_ENTRIES ? ', …' : '');
  throw new BackupRefusedError(
    `The data folder ${dataDir} is not empty (it holds ${shown}): db:restore only restores into an empty ` +
      `folder, so that nothing is overwritten. Stop the API, then move that folder aside ` +
      `(mv ${dataDir} ${dataDir}.old) or set CRM_DATA_DIR to a new folder, and run db:restore again.`,
  );
}

/** Checks a backup file without restoring it: the same checks a restore makes first. */
export async function verifyBackup(config: Config, file: string, print: Print): Promise<void> {
  const from = path.resolve(file);
  if (!existsSync(from)) throw new BackupRefusedError(`${from} does not exist.`);
  await runBackupTool(await backupToolFor(config, print), ['verify', from], print);
}

/**
 * Restores a backup into the (empty) data folder after checking all of it: the manifest, each
 * file's size and SHA-256, the compressed stream's checksum and SQLite's integrity_check. A
 * backup that fails any check leaves the folder as it was. The API then starts on the folder.
 */
export async function restoreEmbeddedDatabase(config: Config, file: string, print: Print): Promise<void> {
  if (config.mongodbUri) throw new BackupRefusedError(mongorestoreAdvice(config));
  const from = path.resolve(file);
  if (!existsSync(from)) throw new BackupRefusedError(`${from} does not exist.`);
  await ensureEmptyDataDir(config.dataDir);
  await runBackupTool(await backupToolFor(config, print), ['restore', '-into', config.dataDir, from], print);

  const restored = (await databaseFilesIn(config.dataDir)).map((d) => path.basename(d, '.sqlite'));
  if (!restored.includes(config.mongodbDb))
    print(
      `note: the backup holds ${restored.join(', ')}, but the API reads "${config.mongodbDb}": ` +
        `start it with MONGODB_DB set to the database to serve.`,
    );
  print(`done: start the API on it with CRM_DATA_DIR=${config.dataDir} npm start`);
}
