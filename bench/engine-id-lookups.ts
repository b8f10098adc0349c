/**
 * `npx tsx bench/engine-id-lookups.ts [ferretdb-binary]`: what a lookup and an update by _id
 * cost on the embedded engine as a collection grows. With patch 0004 both stay flat; on an
 * engine without it (pass its binary) they grow linearly, because the query does not use the
 * _id index (see README, patch 0004). Sequential operations, ObjectId _ids, 300-byte documents.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { ensureFerretDbBinary } from '../src/db/ferretdb/build.js';
import { startFerretDb } from '../src/db/ferretdb/engine.js';

const binary = process.argv[2] ?? (await ensureFerretDbBinary()).path;
const dataDir = await mkdtemp(path.join(os.tmpdir(), 'pulse-crm-idbench-'));
const engine = await startFerretDb({ binary, dataDir });
const client = await new mongoose.mongo.MongoClient(engine.uri).connect();
const docs = client.db('idbench').collection<{ _id: mongoose.Types.ObjectId; v: number; pad: string }>('docs');
const ROUNDS = 100;

async function perOperationMs(run: (i: number) => Promise<unknown>): Promise<string> {
  const started = performance.now();
  for (let i = 0; i < ROUNDS; i++) await run(i);
  return ((performance.now() - started) / ROUNDS).toFixed(2);
}

try {
  console.log(`engine: ${binary}`);
  console.log('documents | findOne by _id (ms) | updateOne by _id (ms) | insertOne (ms)');
  let ids: mongoose.Types.ObjectId[] = [];
  for (const size of [1_000, 10_000, 50_000]) {
    const more = Array.from({ length: size - ids.length }, () => new mongoose.Types.ObjectId());
    for (let s = 0; s < more.length; s += 5_000)
      await docs.insertMany(more.slice(s, s + 5_000).map((_id) => ({ _id, v: 0, pad: 'x'.repeat(300) })));
    ids = [...ids, ...more];
    // The most recently inserted documents: a scan reaches them last.
    const find = await perOperationMs((i) => docs.findOne({ _id: ids[ids.length - 1 - i]! }));
    const update = await perOperationMs((i) => docs.updateOne({ _id: ids[ids.length - 1 - i]! }, { $inc: { v: 1 } }));
    const insert = await perOperationMs(() => client.db('idbench').collection('other').insertOne({ at: new Date() }));
    console.log(`${String(size).padStart(9)} | ${find.padStart(19)} | ${update.padStart(21)} | ${insert.padStart(14)}`);
  }
} finally {
  await client.close();
  await engine.stop();
  await rm(dataDir, { recursive: true, force: true });
}
