/**
 * Bundles GraphiQL from the `graphiql` npm package into dist-web/graphiql, so the API serves
 * it from local files: no CDN, works offline.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from '../src/shared/paths.js';

const source = path.join(projectRoot, 'web', 'graphiql');
const out = path.join(projectRoot, 'dist-web', 'graphiql');

await mkdir(out, { recursive: true });
await build({
  entryPoints: [path.join(source, 'main.tsx')],
  outdir: out,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.svg': 'dataurl', '.png': 'dataurl' },
  logLevel: 'warning',
});
await copyFile(path.join(source, 'index.html'), path.join(out, 'index.html'));
