import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { WebSocketServer } from 'ws';
import { projectRoot } from '../../src/shared/paths.js';

type Report = { live?: true; done?: true; receivedAt?: number[]; error?: string };

function startClients(mode: 'graphql' | 'raw', url: string, count: number, token: string) {
  const child = fork(path.join(projectRoot, 'bench', 'fanout-clients.ts'), [mode, url, String(count), token], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const waitFor = (key: 'live' | 'done', timeoutMs: number) =>
    new Promise<Report>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`fan-out clients: no ${key} within ${timeoutMs} ms`)), timeoutMs);
      const onMessage = (m: Report) => {
        if (m.error) return reject(new Error(m.error));
        if (!m[key]) return;
        clearTimeout(timer);
        child.off('message', onMessage);
        resolve(m);
      };
      child.on('message', onMessage);
    });
  return { child, waitFor };
}

async function stopClients(child: ChildProcess): Promise<void> {
  child.send({ close: true });
  await new Promise((r) => child.once('exit', r));
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/**
 * fan-out: one segmentChanged event delivered to `count` graphql-ws subscribers on this
 * instance, against a raw `ws` broadcast of a payload of the same size to the same number of
 * sockets. Latency is from the mutation's start to each receipt; throughput is deliveries per
 * second until the last receipt. memory: the server process's RSS with the subscribers idle.
 */
export async function fanoutScenario(apiUrl: string, token: string, count: number) {
  const wsUrl = apiUrl.replace(/^http/, 'ws');
  // Through the API itself, so the instance's own tailer is woken by its own append.
  const createCustomer = (name: string) =>
    fetch(apiUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({
        query: 'mutation($name: String!) { createCustomer(input: { name: $name }) { customer { id } } }',
        variables: { name },
      }),
    });
  // Garbage from the scenarios before is collected first, so that both readings count live memory.
  await settleMemory();
  const rssBefore = process.memoryUsage().rss;
  const ours = startClients('graphql', wsUrl, count, token);
  const live = ours.waitFor('live', 120_000);
  const probes = setInterval(() => void createCustomer('probe'), 500);
  await live.finally(() => clearInterval(probes));
  await new Promise((r) => setTimeout(r, 1_000)); // probes still in flight drain
  await settleMemory();
  const rssWithSubscribers = process.memoryUsage().rss;
  const done = ours.waitFor('done', 120_000);
  const t0 = Date.now();
  await createCustomer('MEASURED');
  const oursTimes = (await done).receivedAt!.map((t) => t - t0).sort((a, b) => a - b);
  await stopClients(ours.child);

  // The floor: the same number of plain sockets, one payload serialised once and sent to each.
  const server = http.createServer();
  const wss = new WebSocketServer({ server });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const raw = startClients('raw', `ws://127.0.0.1:${(server.address() as AddressInfo).port}`, count, '');
  await raw.waitFor('live', 120_000);
  const rawDone = raw.waitFor('done', 120_000);
  const r0 = Date.now();
  const payload = JSON.stringify({
    id: 'x',
    type: 'next',
    payload: {
      data: {
        segmentChanged: {
          to: 'NEW',
          cursor: '5gC3GF5ph6XcTJTb-5YfrULZpVZywQolRMSyf-sER7NTbj-6FFc', // as long as a sealed one
          customer: {
            id: 'Q3VzdG9tZXI6NmIwNmU1Y2RmZjgxMDI5NjE5MWQ1MGNm',
            name: 'MEASURED',
            code: 'C00001',
            segment: 'NEW',
          },
        },
      },
    },
  });
  for (const socket of wss.clients) socket.send(payload);
  const rawTimes = (await rawDone).receivedAt!.map((t) => t - r0).sort((a, b) => a - b);
  await stopClients(raw.child);
  wss.close();
  server.close();

  const oursRate = count / (Math.max(1, oursTimes.at(-1)!) / 1000);
  const rawRate = count / (Math.max(1, rawTimes.at(-1)!) / 1000);
  return {
    fanout: {
      ours: Math.round(oursRate),
      baseline: Math.round(rawRate),
      unit: 'deliveries/s',
      ratio: +(oursRate / rawRate).toFixed(3),
      p50Ms: percentile(oursTimes, 50),
      p99Ms: percentile(oursTimes, 99),
      baselineP99Ms: percentile(rawTimes, 99),
      note: `${count.toLocaleString('en')} subscribers on one instance; one segmentChanged event`,
    },
    memory: {
      ours: Math.round((rssWithSubscribers - rssBefore) / count),
      baseline: 50 * 1024,
      unit: 'bytes/subscriber',
      ratio: +((50 * 1024) / Math.max(1, (rssWithSubscribers - rssBefore) / count)).toFixed(2),
      bytesPerSubscriber: Math.round((rssWithSubscribers - rssBefore) / count),
      note: `RSS ${Math.round(rssBefore / 2 ** 20)} MiB idle, ${Math.round(rssWithSubscribers / 2 ** 20)} MiB with ${count.toLocaleString('en')} subscribers; baseline is the 50 KB target`,
    },
  };
}

/** Full garbage collections (the bench runs with --expose-gc), with a pause for the allocator. */
async function settleMemory(): Promise<void> {
  for (let i = 0; i < 3; i++) {
    global.gc?.();
    await new Promise((r) => setTimeout(r, 200));
  }
}
