import { rm } from 'node:fs/promises';

export default async function globalTeardown() {
  const engine = globalThis.__pulseEngine;
  if (!engine) return;
  await engine.stop();
  await rm(engine.dataDir, { recursive: true, force: true });
}
