/**
 * Bundles the web pages the API serves from local files (no CDN, works offline): GraphiQL from
 * the `graphiql` npm package into dist-web/graphiql, and the operator dashboard (with uPlot)
 * into dist-web/dashboard.
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

const dashboardSource = path.join(projectRoot, 'web', 'dashboard');
const dashboardOut = path.join(projectRoot, 'dist-web', 'dashboard');
await mkdir(dashboardOut, { recursive: true });
await build({
  entryPoints: [path.join(dashboardSource, 'main.ts')],
  outdir: dashboardOut,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  logLevel: 'warning',
});
await copyFile(path.join(dashboardSource, 'index.html'), path.join(dashboardOut, 'index.html'));
