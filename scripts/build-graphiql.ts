/**
 * Bundles the web pages the API serves from local files (no CDN, works offline): GraphiQL from
 * the `graphiql` npm package into dist-web/graphiql, and the operator dashboard (with uPlot)
 * into dist-web/dashboard.
 */
import { copyFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { build } from 'esbuild';
import { projectRoot } from '../src/shared/paths.js';

/** One page: its entry bundled for the browser into dist-web/<name>, with its index.html. */
async function bundlePage(name: string, entry: string, options: Parameters<typeof build>[0] = {}): Promise<void> {
  const source = path.join(projectRoot, 'web', name);
  const out = path.join(projectRoot, 'dist-web', name);
  await mkdir(out, { recursive: true });
  await build({
    entryPoints: [path.join(source, entry)],
    outdir: out,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    sourcemap: true,
    logLevel: 'warning',
    ...options,
  });
  await copyFile(path.join(source, 'index.html'), path.join(out, 'index.html'));
}

await bundlePage('graphiql', 'main.tsx', {
  jsx: 'automatic',
  define: { 'process.env.NODE_ENV': '"production"' },
  loader: { '.woff': 'file', '.woff2': 'file', '.ttf': 'file', '.svg': 'dataurl', '.png': 'dataurl' },
});
await bundlePage('dashboard', 'main.ts');
