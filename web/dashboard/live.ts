/**
 * The page's graphql-ws connection: one socket for every live panel. Subscriptions are
 * best-effort views (a refused or failed one leaves its panel as it is).
 */
import { createClient, type Client } from 'graphql-ws';

export function connectLive(url: string, token: string): Client {
  const client = createClient({ url, connectionParams: { authorization: `Bearer ${token}` } });
  // Leaving the page closes the socket properly (the server completes the subscriptions).
  window.addEventListener('pagehide', () => void client.dispose());
  return client;
}

export function listen<T>(client: Client, query: string, onData: (data: T) => void): void {
  client.subscribe<T>(
    { query },
    {
      next: ({ data }) => {
        if (data) onData(data);
      },
      error: () => {},
      complete: () => {},
    },
  );
}

/**
 * `read` one at a time: calls made while it runs (updates arriving faster than the reads) make
 * it run once more afterwards, not once each.
 */
export function coalesced(read: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | null = null;
  let isDue = false;
  const loop = async () => {
    try {
      do {
        isDue = false;
        await read();
      } while (isDue);
    } finally {
      running = null;
    }
  };
  return () => {
    if (running) isDue = true;
    else running = loop();
    return running;
  };
}
