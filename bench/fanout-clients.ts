/**
 * The subscriber side of the fan-out and memory scenarios, in a process of its own: opens
 * `count` graphql-ws subscriptions to segmentChanged (or, for the raw baseline, plain
 * WebSockets) and reports to the parent over IPC:
 *   { live: true }                 once every subscriber has received something (a probe);
 *   { done: true, receivedAt }     once every one has received the message naming MEASURED.
 * The parent sends { close: true } to end it.
 */
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [mode, url, countArg, token] = process.argv.slice(2);
const count = Number(countArg);
const QUERY = 'subscription { segmentChanged(segments: [NEW]) { to cursor customer { id name code segment } } }';

const receivedAt: number[] = [];
let live = 0;
const closers: Array<() => void> = [];

function onMessage(state: { isLive: boolean }, text: string): void {
  if (!state.isLive) {
    state.isLive = true;
    if (++live === count) process.send?.({ live: true });
  }
  if (text.includes('MEASURED')) {
    receivedAt.push(Date.now());
    if (receivedAt.length === count) process.send?.({ done: true, receivedAt });
  }
}

for (let i = 0; i < count; i++) {
  const state = { isLive: false };
  if (mode === 'raw') {
    const ws = new WebSocket(url!);
    ws.on('open', () => onMessage(state, ''));
    ws.on('message', (data) => onMessage(state, String(data)));
    closers.push(() => ws.close());
  } else {
    const client = createClient({
      url: url!,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: { authorization: `Bearer ${token}` },
    });
    client.subscribe<{ segmentChanged: { customer: { name: string } } }>(
      { query: QUERY },
      {
        next: (r) => onMessage(state, r.data?.segmentChanged.customer.name ?? ''),
        error: (e) => process.send?.({ error: JSON.stringify(e) }),
        complete: () => {},
      },
    );
    closers.push(() => void client.dispose());
  }
}

process.on('message', (m: { close?: boolean }) => {
  if (!m.close) return;
  for (const close of closers) close();
  setTimeout(() => process.exit(0), 500);
});
