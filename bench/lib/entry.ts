import path from 'node:path';
import { projectRoot } from '../../src/shared/paths.js';

/**
 * `npm run bench` runs compiled (`tsc -p tsconfig.bench.json` into `.bench-build/`), with plain
 * node as `npm start` runs the API: a loader such as tsx costs the API per request (it hooks
 * every `require`, which Apollo makes for each query's hash, and names every closure it creates).
 * Run from the sources with `node --import tsx bench/run.ts`, the same modules run as TypeScript.
 */
const BUILD_DIR = '.bench-build';
const isCompiled = import.meta.url.endsWith('.js');

/** A module of the project (`src/main`, `bench/fanout-clients`) as the running bench starts it. */
export function projectEntry(module: string): { file: string; execArgv: string[] } {
  return isCompiled
    ? { file: path.join(projectRoot, BUILD_DIR, `${module}.js`), execArgv: [] }
    : { file: path.join(projectRoot, `${module}.ts`), execArgv: ['--import', 'tsx'] };
}
