/**
 * Idle clients in a process of their own: `count` graphql-ws sockets with one subscription each
 * (the four kinds a CRM screen keeps open, in turn), or, for a floor, plain WebSockets. Opens
 * them a wave at a time and tells the parent over IPC:
 *   { connected: n }   after each wave (every socket acknowledged, its subscription sent);
 *   { received: n }    on { report: true }: messages delivered to them so far;
 *   { error }          when a socket or subscription fails.
 * On { close: true }, or when the parent goes away, it closes them all and exits.
 */
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';

const [mode, url, countArg, token] = process.argv.slice(2);
const count = Number(countArg);
const WAVE = 250;

const IDLE_SUBSCRIPTIONS = [
  'subscription { segmentChanged(segments: [VIP]) { to from changedAt customer { id name segment } cursor } }',
  'subscription { interactionRecorded(types: [COMPLAINT]) { interaction { id type channel occurredAt } cursor } }',
  'subscription { alertRaised { id title severity departments raisedAt } }',
  'subscription { campaignProgress { status stats { sent delivered failed } cursor campaign { id name } } }',
];

let received = 0;
const closers: Array<() => void> = [];
const fail = (error: unknown) =>
  process.send?.({ error: error instanceof Error ? error.message : JSON.stringify(error) });

function openGraphqlSubscriber(i: number): Promise<void> {
  return new Promise((resolve) => {
    const client: Client = createClient({
      url: url!,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: false,
      connectionParams: { authorization: `Bearer ${token}` },
      on: { connected: () => resolve(), error: fail },
    });
    client.subscribe(
      { query: IDLE_SUBSCRIPTIONS[i % IDLE_SUBSCRIPTIONS.length]! },
      { next: () => void received++, error: fail, complete: () => {} },
    );
    closers.push(() => void client.dispose());
  });
}

function openRawSocket(): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url!);
    ws.on('open', () => resolve());
    ws.on('message', () => void received++);
    ws.on('error', fail);
    closers.push(() => ws.close());
  });
}

function closeAll(): void {
  for (const close of closers) close();
  setTimeout(() => process.exit(0), 500);
}

process.on('message', (m: { close?: boolean; report?: boolean }) => {
  if (m.report) process.send?.({ received });
  if (m.close) closeAll();
});
process.on('disconnect', closeAll);

for (let start = 0; start < count; start += WAVE) {
  const wave = Array.from({ length: Math.min(WAVE, count - start) }, (_, k) =>
    mode === 'raw' ? openRawSocket() : openGraphqlSubscriber(start + k),
  );
  await Promise.all(wave);
  process.send?.({ connected: start + wave.length });
}
