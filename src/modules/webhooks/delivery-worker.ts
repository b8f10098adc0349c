import mongoose from 'mongoose';
import { Webhook } from 'standardwebhooks';
import { claimDue } from '../../db/due-work.js';
import { DAY_MS, type Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { OutboundHttpError, type OutboundHttp } from '../../shared/outbound-http.js';
import type { EnabledEndpoints } from './endpoints.js';
import { Endpoint, WebhookDelivery, type DeliveryDoc, type EndpointDoc } from './model.js';
import type { WebhookSettings } from './settings.js';

const MAX_BACKOFF_MS = 6 * 3_600_000;
/** Deliveries claimed per query: a lease each, taken one by one as they are sent. */
const DUE_PER_PASS = 20;

export type DeliveryWorkerDeps = {
  clock: Clock;
  logger: Logger;
  settings: WebhookSettings;
  outbound: OutboundHttp;
  enabledEndpoints: EnabledEndpoints;
};

function backoffMs(settings: WebhookSettings, attempts: number): number {
  const base = Math.min(settings.retryBaseMs * 2 ** (attempts - 1), MAX_BACKOFF_MS);
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

/** A delivery whose endpoint is disabled waits (enabling it brings it forward) until its retry window ends; deleted: it fails now. */
async function holdForEndpoint(deps: DeliveryWorkerDeps, delivery: DeliveryDoc, endpoint: EndpointDoc | null) {
  const now = deps.clock.now();
  const fails = !endpoint || now.getTime() >= delivery.retryUntil.getTime();
  await WebhookDelivery.updateOne(
    { _id: delivery._id },
    {
      $set: fails
        ? {
            status: 'FAILED',
            lastError: endpoint ? 'the endpoint was disabled' : 'the endpoint was deleted',
            leaseUntil: new Date(0),
          }
        : {
            nextAttemptAt: new Date(Math.min(now.getTime() + DAY_MS, delivery.retryUntil.getTime())),
            leaseUntil: new Date(0),
          },
    },
  );
}

/** Posts the delivery, signed (Standard Webhooks); the response code, and why it failed if it did. */
async function post(
  deps: DeliveryWorkerDeps,
  delivery: DeliveryDoc,
  endpoint: EndpointDoc,
): Promise<{ responseCode: number | null; error: string | null }> {
  const sentAt = new Date();
  try {
    const signer = new Webhook(endpoint.secret.replace(/^whsec_/, ''));
    const { status } = await deps.outbound.post(endpoint.url, {
      headers: {
        'content-type': 'application/json',
        'webhook-id': delivery._id,
        'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
        'webhook-signature': signer.sign(delivery._id, sentAt, delivery.payload),
      },
      body: delivery.payload,
      timeoutMs: deps.settings.timeoutMs,
    });
    if (status >= 300 && status < 400)
      return { responseCode: status, error: `the endpoint answered HTTP ${status} (redirects are not followed)` };
    if (status < 200 || status >= 300) return { responseCode: status, error: `the endpoint answered HTTP ${status}` };
    return { responseCode: status, error: null };
  } catch (err) {
    // A refused target has no response code: the API says nothing about what is behind it.
    return { responseCode: null, error: err instanceof OutboundHttpError ? err.message : String(err) };
  }
}

/**
 * An endpoint that has not taken anything for as long as this delivery was retried is turned
 * off — unless a delivery succeeded meanwhile (another worker, another delivery).
 */
async function disableFailingEndpoint(
  deps: DeliveryWorkerDeps,
  endpoint: EndpointDoc,
  delivery: DeliveryDoc,
  error: string,
): Promise<void> {
  if (endpoint.lastSuccessAt && endpoint.lastSuccessAt.getTime() >= delivery.createdAt.getTime()) return;
  await Endpoint.updateOne(
    {
      _id: endpoint._id,
      enabled: true,
      $or: [{ lastSuccessAt: null }, { lastSuccessAt: mongoose.trusted({ $lt: delivery.createdAt }) }],
    },
    {
      $set: {
        enabled: false,
        disabledReason: `every delivery attempt failed for ${Math.round(deps.settings.retryForMs / 3_600_000)} h (last: ${error})`,
        updatedAt: deps.clock.now(),
      },
    },
  );
  deps.enabledEndpoints.invalidate();
  deps.logger.warn({ endpoint: String(endpoint._id), url: endpoint.url }, 'webhook endpoint disabled after failing');
}

/** Sends one claimed delivery and records how it went. */
async function attemptDelivery(deps: DeliveryWorkerDeps, delivery: DeliveryDoc): Promise<void> {
  const endpoint = await Endpoint.findById(delivery.endpointId).lean<EndpointDoc>();
  if (!endpoint || !endpoint.enabled) return holdForEndpoint(deps, delivery, endpoint);
  const { responseCode, error } = await post(deps, delivery, endpoint);
  const now = deps.clock.now();
  const attempts = delivery.attempts + 1;
  if (!error) {
    await WebhookDelivery.updateOne(
      { _id: delivery._id },
      {
        $set: {
          status: 'SUCCEEDED',
          attempts,
          responseCode,
          lastError: null,
          deliveredAt: now,
          leaseUntil: new Date(0),
        },
      },
    );
    await Endpoint.updateOne({ _id: endpoint._id }, { $set: { lastSuccessAt: now } });
    return;
  }
  const next = new Date(now.getTime() + backoffMs(deps.settings, attempts));
  const givesUp = next.getTime() > delivery.retryUntil.getTime();
  await WebhookDelivery.updateOne(
    { _id: delivery._id },
    {
      $set: {
        status: givesUp ? 'FAILED' : 'PENDING',
        attempts,
        responseCode,
        lastError: error,
        nextAttemptAt: next,
        leaseUntil: new Date(0),
      },
    },
  );
  if (givesUp) await disableFailingEndpoint(deps, endpoint, delivery, error);
}

/**
 * The delivery worker of one process. `deliverDue` resolves once every delivery that was due
 * when it began (and not leased by another worker) was attempted: passes of claims until one
 * claims nothing. A failed attempt is retried after the run's start (any backoff of 1 ms or
 * more), so the same run does not claim it again; with no backoff at all, a pass that brings
 * nothing new ends the run. `stop` ends a run at its next delivery, so shutting down waits for
 * one request at most, however long the queue.
 */
export function createDeliveryWorker(deps: DeliveryWorkerDeps) {
  let isStopping = false;

  async function deliverDue(): Promise<number> {
    const now = deps.clock.now();
    const attempted = new Set<string>();
    while (!isStopping) {
      let claimed = 0;
      let fresh = 0;
      const due = claimDue(WebhookDelivery, {
        timeField: 'nextAttemptAt',
        now,
        leaseMs: deps.settings.leaseMs,
        limit: DUE_PER_PASS,
      });
      for await (const delivery of due) {
        claimed++;
        if (!attempted.has(delivery._id)) fresh++;
        attempted.add(delivery._id);
        await attemptDelivery(deps, delivery);
        if (isStopping) break;
      }
      if (claimed === 0 || fresh === 0) break;
    }
    return attempted.size;
  }

  return {
    deliverDue,
    /** Ends the current run at its next delivery and refuses further runs: for shutdown. */
    stop(): void {
      isStopping = true;
    },
  };
}
