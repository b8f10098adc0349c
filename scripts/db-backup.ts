/**
 * `npm run db:backup -- <file>`: writes a backup of the embedded database (the SQLite files in
 * CRM_DATA_DIR) to <file>, a gzip-compressed tar, while the API keeps serving — or with nothing
 * running. One point in time across the database files; progress per file. With MONGODB_URI
 * set it refuses and names mongodump instead. See docs/BACKUP.md.
 */
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { backUpEmbeddedDatabase } from '../src/db/backup/backup.js';

const USAGE = 'usage: npm run db:backup -- <file>   (for example backups/pulse-crm-2025-01-31.tar.gz)';

/** `npm run` starts scripts in the project folder; a relative file name is meant from where npm was run. */
const fromCallersFolder = (file: string) => path.resolve(process.env.INIT_CWD ?? process.cwd(), file);

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  if (args.length !== 1 || args[0]?.startsWith('-')) {
    console.error(USAGE);
    process.exit(2);
  }
  await backUpEmbeddedDatabase(loadConfig(), fromCallersFolder(args[0] ?? ''), (line) => console.log(line));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
