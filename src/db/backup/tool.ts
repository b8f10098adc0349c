import { spawn } from 'node:child_process';
import type { Config } from '../../config.js';
import { ensureBackupToolBinary } from '../ferretdb/build.js';

/** The tool's exit code for a backup that failed its checks (see backup-tool/main.go). */
const EXIT_DAMAGED = 3;

/** Why db:backup or db:restore did nothing; the message says what to do. */
export class BackupRefusedError extends Error {
  override name = 'BackupRefusedError';
}

/** The backup file failed a check (manifest, size, SHA-256, gzip CRC or SQLite integrity). */
export class DamagedBackupError extends Error {
  override name = 'DamagedBackupError';
}

export type Print = (line: string) => void;

/** The compiled backup tool, built into the engine cache the first time (seconds to a minute). */
export async function backupToolFor(config: Config, print: Print): Promise<string> {
  const tool = await ensureBackupToolBinary({ cacheDir: config.engineCacheDir, progress: print });
  return tool.path;
}

/**
 * Runs the backup tool, passing its progress lines to `print` as they come. Ctrl-C or SIGTERM
 * is passed on and waited for, so the tool removes its partial files before we exit.
 */
export function runBackupTool(binary: string, args: string[], print: Print): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let pending = '';
    child.stdout.on('data', (chunk: Buffer) => {
      const lines = (pending + chunk.toString()).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) print(line);
    });
    let errors = '';
    child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    const passOn = (signal: NodeJS.Signals) => child.kill(signal);
    process.on('SIGINT', passOn);
    process.on('SIGTERM', passOn);
    child.once('error', (err) => reject(new BackupRefusedError(`could not run the backup tool: ${err.message}`)));
    child.once('close', (code, signal) => {
      process.off('SIGINT', passOn);
      process.off('SIGTERM', passOn);
      if (pending) print(pending);
      const message = errors.trim() || `the backup tool stopped (${signal ?? `exit ${code}`})`;
      if (code === 0) resolve();
      else if (code === EXIT_DAMAGED) reject(new DamagedBackupError(message));
      else reject(new BackupRefusedError(message));
    });
  });
}
