import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

export class AuthConfigError extends Error {
  override name = 'AuthConfigError';
}

/**
 * The signing secret: JWT_SECRET, required in production. In development a random secret is
 * kept in the data folder, so tokens survive restarts and several local processes agree.
 */
export async function resolveJwtSecret(opts: {
  secret: string | undefined;
  isProduction: boolean;
  dataDir: string;
}): Promise<Uint8Array> {
  if (opts.secret) return new TextEncoder().encode(opts.secret);
  if (opts.isProduction) throw new AuthConfigError('JWT_SECRET is required in production (at least 32 characters).');
  const file = path.join(opts.dataDir, 'jwt-secret');
  if (!existsSync(file)) {
    await mkdir(opts.dataDir, { recursive: true });
    await writeFile(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' }).catch(() => {});
  }
  return new TextEncoder().encode((await readFile(file, 'utf8')).trim());
}
