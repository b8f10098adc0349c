/**
 * `npm run db:restore -- <file>`: restores a db:backup file into CRM_DATA_DIR, which must be
 * empty or missing; every check (manifest, SHA-256 of each file, SQLite's integrity_check)
 * passes first, or nothing is written. Then start the API on the folder (`npm start`).
 * `npm run db:restore -- --check <file>` only checks the file. See docs/BACKUP.md.
 */
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { restoreEmbeddedDatabase, verifyBackup } from '../src/db/backup/restore.js';

const USAGE = 'usage: npm run db:restore -- <file>   or, to check a backup only: npm run db:restore -- --check <file>';

/** `npm run` starts scripts in the project folder; a relative file name is meant from where npm was run. */
const fromCallersFolder = (file: string) => path.resolve(process.env.INIT_CWD ?? process.cwd(), file);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const isCheckOnly = args[0] === '--check';
  const files = isCheckOnly ? args.slice(1) : args;
  const file = files[0];
  if (files.length !== 1 || file === undefined || file.startsWith('-')) {
    console.error(USAGE);
    process.exit(2);
  }
  const print = (line: string) => console.log(line);
  if (isCheckOnly) await verifyBackup(loadConfig(), fromCallersFolder(file), print);
  else await restoreEmbeddedDatabase(loadConfig(), fromCallersFolder(file), print);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
