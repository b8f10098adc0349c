/**
 * Preloaded (`--expose-gc --import <this>`) into a process whose memory a benchmark reads: on
 * the IPC message `{ readMemory: id }` it runs full collections, lets the allocator return
 * what it can, and answers `{ memory: id, usage: process.memoryUsage() }`; with
 * `{ readMemory: id, heapSnapshot: file }` it also writes a heap snapshot there (for Chrome's
 * DevTools, to see what grows). When the parent goes
 * away the process is asked to stop as on a SIGTERM, so no API outlives its benchmark.
 */
import { writeHeapSnapshot } from 'node:v8';

const COLLECTIONS = 3;
const PAUSE_MS = 150;

if (process.send) {
  process.on('message', (message: { readMemory?: number; heapSnapshot?: string }) => {
    if (message?.readMemory === undefined) return;
    void (async () => {
      for (let i = 0; i < COLLECTIONS; i++) {
        global.gc?.();
        await new Promise((r) => setTimeout(r, PAUSE_MS));
      }
      const usage = process.memoryUsage();
      if (message.heapSnapshot) writeHeapSnapshot(message.heapSnapshot);
      process.send?.({ memory: message.readMemory, usage, hasGc: !!global.gc });
    })();
  });
  process.on('disconnect', () => process.kill(process.pid, 'SIGTERM'));
  // The channel alone does not keep the process alive: it ends as it would without the probe.
  process.channel?.unref();
}
