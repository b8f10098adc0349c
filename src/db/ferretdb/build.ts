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
/**
 * Patches to modules the engine depends on, one folder per module version
 * (`modules/modernc.org/libc@v1.55.3/*.patch`): the build patches a copy of that module's source
 * and points FerretDB's go.mod at it with a `replace`.
 */
export const MODULE_PATCHES_DIR = path.join(PATCHES_DIR, 'modules');

/** Something the engine build needs is missing; the message says what to do. */
export class EngineBuildError extends Error {
  override name = 'EngineBuildError';
}

type Progress = (message: string) => void;

/** The Go toolchain a build runs, and the environment it runs it in. */
type GoTool = { go: string; env: NodeJS.ProcessEnv };

type SourceFile = { name: string; text: string };

/** The files of `dir` whose names end with `extension`, in name order. */
async function readSources(dir: string, extension: string): Promise<SourceFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(extension)).sort();
  return Promise.all(names.map(async (name) => ({ name, text: await readFile(path.join(dir, name), 'utf8') })));
}

type ModulePatches = { module: string; version: string; dir: string; patches: SourceFile[] };

/** The patched dependency modules: each folder under MODULE_PATCHES_DIR named `<name>@<version>`. */
async function readModulePatches(): Promise<ModulePatches[]> {
  if (!existsSync(MODULE_PATCHES_DIR)) return [];
  const found: ModulePatches[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of (await readdir(dir, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
      if (!entry.isDirectory()) continue;
      const full = path.join(dir, entry.name);
      const at = entry.name.lastIndexOf('@');
      if (at < 0) {
        await walk(full);
        continue;
      }
      const parent = path.relative(MODULE_PATCHES_DIR, dir).split(path.sep).filter(Boolean);
      const module = [...parent, entry.name.slice(0, at)].join('/');
      found.push({ module, version: entry.name.slice(at + 1), dir: full, patches: await readSources(full, '.patch') });
    }
  };
  await walk(MODULE_PATCHES_DIR);
  return found;
}

/**
 * A cache key: the engine version plus every file (the patches, or the tool's source), in
 * order, by name and content.
 */
function cacheKey(files: SourceFile[]): string {
  const h = createHash('sha256').update(FERRETDB_VERSION);
  for (const p of files) h.update('\0').update(p.name).update('\0').update(p.text);
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

/** Runs a `go` command that prints JSON (`-json`) in `cwd` and parses what it printed. */
async function goJson<T>(tool: GoTool, args: string[], cwd: string): Promise<T> {
  const out = await run(tool.go, args, { cwd, env: tool.env });
  try {
    return JSON.parse(out) as T;
  } catch {
    throw new EngineBuildError(`\`go ${args.join(' ')}\` printed something other than JSON:\n${out.slice(0, 2_000)}`);
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
 * A patched copy of one module FerretDB depends on, beside FerretDB's tree (`src`), which its
 * go.mod then uses in place of the module proxy's (a `replace` to a folder needs no checksum).
 */
async function patchModule(src: string, m: ModulePatches, tool: GoTool, progress: Progress): Promise<void> {
  const info = await goJson<{ Dir?: string; Error?: string }>(
    tool,
    ['mod', 'download', '-json', `${m.module}@${m.version}`],
    src,
  );
  if (!info.Dir) throw new EngineBuildError(`go mod download gave no source folder for ${m.module}: ${info.Error}`);
  const copy = path.resolve(path.dirname(src), 'modules', `${m.module}@${m.version}`);
  await mkdir(path.dirname(copy), { recursive: true });
  await cp(info.Dir, copy, { recursive: true });
  await run('chmod', ['-R', 'u+w', copy], { cwd: src });
  for (const p of m.patches) {
    progress(`applying ${m.module}@${m.version}/${p.name}`);
    await applyPatch(copy, path.join(m.dir, p.name));
  }
  await run(tool.go, ['mod', 'edit', `-replace=${m.module}@${m.version}=${copy}`], { cwd: src, env: tool.env });
  // A replace names one version: if the build selects another, the patch would be left out silently.
  const used = await goJson<{ Replace?: { Path?: string } }>(tool, ['list', '-m', '-json', m.module], src);
  if (used.Replace?.Path !== copy)
    throw new EngineBuildError(`the engine build does not use ${m.module}@${m.version}, which a patch of ours is for`);
}

/**
 * Builds one command from FerretDB's module source into `binary` in the cache: the source comes
 * through the Go module proxy (or the module cache, offline), is copied to a writable tree that
 * `prepare` may change (patches, extra commands), and `go build` compiles `pkg` there.
 */
async function buildFromModuleTree(opts: {
  binary: string;
  pkg: string;
  prepare: (src: string, tool: GoTool) => Promise<void>;
  progress: Progress;
}): Promise<void> {
  const { binary, progress } = opts;
  const started = Date.now();
  const tool: GoTool = { go: await findGo(), env: { ...process.env, GOFLAGS: '-buildvcs=false', CGO_ENABLED: '0' } };
  const cacheDir = path.dirname(binary);
  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(path.join(cacheDir, 'build-'));
  try {
    progress('fetching the module source through the Go module proxy');
    const info = await goJson<{ Dir?: string; Error?: string }>(
      tool,
      ['mod', 'download', '-json', `${FERRETDB_MODULE}@${FERRETDB_VERSION}`],
      work,
    );
    if (!info.Dir)
      throw new EngineBuildError(`go mod download gave no source folder: ${info.Error ?? 'unknown error'}`);

    const src = path.join(work, 'src');
    await cp(info.Dir, src, { recursive: true });
    // The module cache is read-only; the copy must be writable to patch it.
    await run('chmod', ['-R', 'u+w', src], { cwd: work });
    await opts.prepare(src, tool);

    progress(`compiling (go build ${opts.pkg})`);
    const tmpBinary = path.join(work, path.basename(binary));
    await compile(tool.go, ['build', '-trimpath', '-o', tmpBinary, opts.pkg], src, tool.env, progress);
    await chmod(tmpBinary, 0o755);
    await access(tmpBinary);
    // Rename is atomic: a concurrent build or reader sees either nothing or a whole binary.
    await rename(tmpBinary, binary);
    progress(`built in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

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
  const patches = await readSources(PATCHES_DIR, '.patch');
  const modules = await readModulePatches();
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const keyed = [
    ...patches,
    ...modules.flatMap((m) => m.patches.map((p) => ({ name: `${m.module}@${m.version}/${p.name}`, text: p.text }))),
  ];
  const binary = path.join(cacheDir, `ferretdb-${FERRETDB_VERSION}-${cacheKey(keyed)}`);
  if (existsSync(binary)) return { path: binary, isFreshBuild: false };

  progress(
    `building FerretDB ${FERRETDB_VERSION} with ${patches.length} patches` +
      (modules.length ? ` and ${modules.map((m) => `${m.patches.length} to ${m.module}`).join(', ')}` : '') +
      ` into ${binary} (first run only; about a minute)`,
  );
  await buildFromModuleTree({
    binary,
    pkg: './cmd/ferretdb',
    progress,
    prepare: async (src, tool) => {
      await writeFile(path.join(src, 'build', 'version', 'version.txt'), `${FERRETDB_VERSION}\n`);
      for (const p of patches) {
        progress(`applying ${p.name}`);
        await applyPatch(src, path.join(PATCHES_DIR, p.name));
      }
      for (const m of modules) await patchModule(src, m, tool, progress);
    },
  });
  return { path: binary, isFreshBuild: true };
}

/** The backup tool's Go source (src/db/ferretdb/backup-tool/*.go): see docs/BACKUP.md. */
export const BACKUP_TOOL_DIR = path.join(projectRoot, 'src', 'db', 'ferretdb', 'backup-tool');

/**
 * Returns the backup tool (db:backup, db:restore), building it into the cache when missing.
 * It is compiled as one more command inside FerretDB's module tree, so it links the engine's
 * own SQLite (modernc.org/sqlite, already required by FerretDB's go.mod) and needs nothing the
 * engine build did not fetch. Its cache key is the engine version plus its source.
 */
export async function ensureBackupToolBinary(
  opts: { cacheDir?: string | undefined; progress?: Progress } = {},
): Promise<EngineBinary> {
  const progress = opts.progress ?? ((m: string) => process.stderr.write(`[backup-tool] ${m}\n`));
  const sources = await readSources(BACKUP_TOOL_DIR, '.go');
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const binary = path.join(cacheDir, `pulse-sqlite-backup-${FERRETDB_VERSION}-${cacheKey(sources)}`);
  if (existsSync(binary)) return { path: binary, isFreshBuild: false };

  progress(`building the backup tool into ${binary} (first run only)`);
  await buildFromModuleTree({
    binary,
    pkg: './cmd/pulse-sqlite-backup',
    progress,
    prepare: async (src) => {
      const dir = path.join(src, 'cmd', 'pulse-sqlite-backup');
      await mkdir(dir, { recursive: true });
      for (const s of sources) await writeFile(path.join(dir, s.name), s.text);
    },
  });
  return { path: binary, isFreshBuild: true };
}
