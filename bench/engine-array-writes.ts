/**
 * `npx tsx bench/engine-array-writes.ts [ferretdb-binary]`: what inserting one document costs on
 * the embedded engine when an indexed field holds an array of n ObjectIds (an audit entry's
 * `targetIds`), beside the same document in a collection without that index. The median of 5
 * inserts per size. With patch 0008 the index adds little; without it (pass an older binary) its
 * cost grows with the square of n.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { ensureFerretDbBinary } from '../src/db/ferretdb/build.js';
import { startFerretDb } from '../src/db/ferretdb/engine.js';

const binary = process.argv[2] ?? (await ensureFerretDbBinary()).path;
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-arraybench-'));
const engine = await startFerretDb({ binary, dataDir });
const client = await new mongoose.mongo.MongoClient(engine.uri).connect();
const db = client.db('arraybench');

async function medianInsertMs(collection: mongoose.mongo.Collection, n: number): Promise<string> {
  const times: number[] = [];
  for (let round = 0; round < 5; round++) {
    const targetIds = Array.from({ length: n }, () => new mongoose.Types.ObjectId());
    const started = performance.now();
    await collection.insertOne({ at: new Date(), action: 'recordInteractions', targetIds });
    times.push(performance.now() - started);
  }
  return times.sort((a, b) => a - b)[2]!.toFixed(1);
}

try {
  const indexed = db.collection('indexed');
  await indexed.createIndex({ targetIds: 1, at: -1 });
  const plain = db.collection('plain');
  await plain.createIndex({ at: -1 });
  console.log(`engine: ${binary}`);
  console.log('elements | indexed array (ms) | no index on it (ms)');
  for (const n of [50, 100, 200, 500, 1_000]) {
    const withIndex = await medianInsertMs(indexed, n);
    const without = await medianInsertMs(plain, n);
    console.log(`${String(n).padStart(8)} | ${withIndex.padStart(18)} | ${without.padStart(19)}`);
  }
} finally {
  await client.close();
  await engine.stop();
  await rm(dataDir, { recursive: true, force: true });
}
