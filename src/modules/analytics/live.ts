import { Repeater } from '@repeaterjs/repeater';
import { Consumer } from '../../events/consumer.js';
import type { EventLog } from '../../events/log.js';

/** The event types that move a dashboard figure. */
const MOVES_THE_DASHBOARD = new Set([
  'INTERACTION_RECORDED',
  // a new customer is a move into NEW
  'SEGMENT_CHANGED',
  'CAMPAIGN_PROGRESS',
  'CUSTOMER_ERASED',
]);
/** At most this often a new dashboard value is computed, whatever the rate of changes. */
const MIN_INTERVAL_MS = 500;
/** How long a tick waits for the analytics consumer to count its change before going anyway. */
const COUNTED_WAIT_MS = 5_000;
const POLL_MS = 50;

/** The analytics consumer's position in the event log (the last event it counted). */
async function countedUpTo(): Promise<number> {
  const doc = await Consumer.findById('analytics').select({ position: 1 }).lean<{ position: number }>();
  return doc?.position ?? 0;
}

/**
 * A tick after every change that moves the dashboard, once the analytics consumer (which may
 * run in another process) has counted it, coalesced to at most one per MIN_INTERVAL_MS. The
 * stream is the same for every subscriber from the moment they join, so the subscription
 * fan-out computes each value once per role and fields, however many dashboards listen.
 */
export function dashboardTicks(events: EventLog): AsyncIterableIterator<{ seq: number }> {
  return new Repeater<{ seq: number }>(async (push, stop) => {
    const source = events.subscribe(null);
    let stopped = false;
    void stop.then(() => {
      stopped = true;
      void source.return?.();
    });
    let latest = 0;
    let sent = 0;
    let lastAt = 0;
    let pumping: Promise<void> | null = null;
    const startPump = () => {
      pumping ??= pump().finally(() => {
        pumping = null;
        // a change that arrived as the pump was finishing
        if (!stopped && latest > sent) startPump();
      });
    };
    const pump = async () => {
      while (!stopped && latest > sent) {
        const target = latest;
        const deadline = Date.now() + COUNTED_WAIT_MS;
        let counted = await countedUpTo();
        while (!stopped && counted < target && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, POLL_MS));
          counted = await countedUpTo();
        }
        const wait = lastAt + MIN_INTERVAL_MS - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        if (stopped) return;
        // Sent as far as it was counted: when the consumer lags past the wait, this value is
        // partly old and another follows once the rest is counted, so no tile stays stale.
        sent = Math.min(target, counted);
        lastAt = Date.now();
        await push({ seq: sent });
      }
    };
    for await (const e of source) {
      if (!MOVES_THE_DASHBOARD.has(e.type)) continue;
      latest = e.seq;
      startPump();
    }
    stop();
  });
}
