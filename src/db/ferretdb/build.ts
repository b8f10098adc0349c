import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { access, chmod, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { projectRoot } from '../../shared/paths.js';

const execFileAsync = promisify(execFile);

export const FERRETDB_MODULE = 'github.com/FerretDB/FerretDB';
export const FERRETDB_VERSION = 'v1.24.2';
export const PATCHES_DIR = path.join(projectRoot, 'src', 'db', 'ferretdb', 'patches');

/** Something the engine build needs is missing; the message says what to do. */
export class EngineBuildError extends Error {
  override name = 'EngineBuildError';
}

type Progress = (message: string) => void;

type Patch = { name: string; text: string };

async function readPatches(): Promise<Patch[]> {
  const names = (await readdir(PATCHES_DIR)).filter((n) => n.endsWith('.patch')).sort();
  return Promise.all(names.map(async (name) => ({ name, text: await readFile(path.join(PATCHES_DIR, name), 'utf8') })));
}

/** The cache key: the engine version plus every patch, in order, by name and content. */
function patchesHash(patches: Patch[]): string {
  const h = createHash('sha256').update(FERRETDB_VERSION);
  for (const p of patches) h.update('\0').update(p.name).update('\0').update(p.text);
  return h.digest('hex').slice(0, 12);
}

export function defaultCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'pulse-crm');
}

async function findGo(): Promise<string> {
  for (const candidate of ['go', '/usr/local/go/bin/go', '/usr/lib/go/bin/go']) {
    try {
      await execFileAsync(candidate, ['version']);
      return candidate;
    } catch {
      // try the next place
    }
  }
  throw new EngineBuildError(
    'The embedded database (FerretDB) is built from source and needs the Go toolchain (1.22 or newer), ' +
      'which was not found. Install Go (for example `apt-get install golang-go`, or put /usr/local/go/bin on PATH), ' +
      'or skip the embedded engine by pointing the API at a MongoDB server: MONGODB_URI=mongodb://host:27017 npm start',
  );
}

/** Runs a command, streaming nothing; on failure the error carries its output. */
async function run(cmd: string, args: string[], opts: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  try {
    const { stdout } = await execFileAsync(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    const e = err as { stderr?: string; stdout?: string; message: string };
    throw new EngineBuildError(`\`${cmd} ${args.join(' ')}\` failed:\n${e.stderr || e.stdout || e.message}`);
  }
}

/** `go build` takes about a minute cold: say so, and keep saying it is alive. */
function compile(go: string, args: string[], cwd: string, env: NodeJS.ProcessEnv, progress: Progress): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(go, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString()).slice(-20_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const ticker = setInterval(
      () => progress(`still compiling… ${Math.round((Date.now() - started) / 1000)} s`),
      10_000,
    );
    child.on('error', (err) => {
      clearInterval(ticker);
      reject(new EngineBuildError(`could not run ${go}: ${err.message}`));
    });
    child.on('close', (code) => {
      clearInterval(ticker);
      if (code === 0) resolve();
      else reject(new EngineBuildError(`go build failed (exit ${code}):\n${output}`));
    });
  });
}

async function applyPatch(dir: string, patchFile: string): Promise<void> {
  // `git apply` works outside a repository too; `patch` is the fallback where git is absent.
  try {
    await run('git', ['apply', '--whitespace=nowarn', patchFile], { cwd: dir });
  } catch (gitErr) {
    try {
      await run('patch', ['-p1', '--forward', '--silent', '-i', patchFile], { cwd: dir });
    } catch {
      throw gitErr;
    }
  }
}

export type EngineBinary = { path: string; isFreshBuild: boolean };

/**
 * Returns the patched FerretDB binary, building it into the cache when it is missing.
 * `go install …@v1.24.2` builds a binary that panics at start (the version file is
 * generated in a release build, not shipped in the module), so we build from the module
 * source with the version file written and our patches applied.
 */
export async function ensureFerretDbBinary(
  opts: { cacheDir?: string | undefined; progress?: Progress } = {},
): Promise<EngineBinary> {
  const progress = opts.progress ?? ((m: string) => process.stderr.write(`[engine] ${m}\n`));
  const patches = await readPatches();
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const binary = path.join(cacheDir, `ferretdb-${FERRETDB_VERSION}-${patchesHash(patches)}`);
  if (existsSync(binary)) return { path: binary, isFreshBuild: false };

  const started = Date.now();
  progress(
    `building FerretDB ${FERRETDB_VERSION} with ${patches.length} patches into ${binary} (first run only; about a minute)`,
  );
  const go = await findGo();
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(path.join(cacheDir, 'build-'));
  try {
    progress('fetching the module source through the Go module proxy');
    const goEnv = { ...process.env, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' };
    const info = JSON.parse(
      await run(go, ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`], { cwd: work, env: goEnv }),
    ) as {
      Dir?: string;
      Error?: string;
    };
    if (!info.Dir)
      throw new EngineBuildError(`go mod download gave no source folder: ${info.Error ?? 'unknown error'}`);

    const src = path.join(work, 'src');
    await cp(info.Dir, src, { recursive: true });
    // The module cache is read-only; the copy must be writable to patch it.
    await run('chmod', ['-R', 'u+w', src], { cwd: work });
    await writeFile(path.join(src, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
    for (const p of patches) {
      progress(`applying ${p.name}`);
      await applyPatch(src, path.join(PATCHES_DIR, p.name));
    }

    progress('compiling (go build ./cmd/ferretdb)');
    const tmpBinary = path.join(work, 'ferretdb');
    await compile(go, ['build', '-trimpath', '-o', tmpBinary, './cmd/ferretdb'], src, goEnv, progress);
    await chmod(tmpBinary, 0o755);
    await access(tmpBinary);
    // Rename is atomic: a concurrent build or reader sees either nothing or a whole binary.
    await rename(tmpBinary, binary);
    progress(`built in ${Math.round((Date.now() - started) / 1000)} s`);
    return { path: binary, isFreshBuild: true };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
