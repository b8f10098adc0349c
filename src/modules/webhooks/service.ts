import { randomBytes } from 'node:crypto';
import mongoose, { Types } from 'mongoose';
import { Webhook } from 'standardwebhooks';
import {
  createOutboundHttp,
  OutboundHttpError,
  refusedUrlProblem,
  type OutboundPolicy,
} from '../../shared/outbound-http.js';
import { isDuplicateKeyError } from '../../db/errors.js';
import { claimDue } from '../../db/due-work.js';
import { createTtlCache } from '../../shared/ttl-cache.js';
import { newestFirstPage, type Page } from '../../db/pagination.js';
import { DAY_MS, type Clock } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import type { Logger } from '../../shared/logger.js';
import type { FieldProblem } from '../../shared/problems.js';
import type { EventDoc } from '../../events/model.js';
import {
  Endpoint,
  WEBHOOK_EVENT_TYPES,
  WebhookDelivery,
  type DeliveryDoc,
  type EndpointDoc,
  type WebhookEventType,
} from './model.js';
import { eventData, webhookBody } from './payloads.js';

const MAX_BACKOFF_MS = 6 * 3_600_000;
const DUE_PER_TICK = 20;

export type WebhookSettings = {
  /** First retry delay; doubled per attempt (with ±20% jitter), at most 6 hours apart. */
  retryBaseMs: number;
  /** How long a delivery is retried before it fails. */
  retryForMs: number;
  timeoutMs: number;
  leaseMs: number;
  /** Which addresses endpoints may point at. */
  outbound: OutboundPolicy;
};

export type WebhooksService = ReturnType<typeof createWebhooksService>;

const notFound = (field: string[], message: string): { problems: FieldProblem[] } => ({
  problems: [{ field, message, code: 'NOT_FOUND' }],
});

function urlProblem(url: string, policy: OutboundPolicy): FieldProblem | null {
  const invalid = (message: string): FieldProblem => ({ field: ['input', 'url'], message, code: 'INVALID' });
  if (!URL.canParse(url)) return invalid('not a valid URL');
  const { protocol } = new URL(url);
  if (protocol !== 'http:' && protocol !== 'https:') return invalid('the URL must be http or https');
  if (url.length > 2_000) return invalid('the URL is too long');
  const refused = refusedUrlProblem(url, policy);
  return refused ? { field: ['input', 'url'], message: refused, code: 'FORBIDDEN' } : null;
}

export function createWebhooksService(deps: {
  clock: Clock;
  logger: Logger;
  /** The deployment currency, for money in payloads. */
  currency: string;
  settings: WebhookSettings;
}) {
  const { clock, settings } = deps;
  const outbound = createOutboundHttp({ policy: settings.outbound, logger: deps.logger });
  const endpointsCache = createTtlCache(1_000, () => Endpoint.find({ enabled: true }).lean<EndpointDoc[]>().exec());
  const enabledEndpoints = () => endpointsCache.get();

  async function createEndpoint(input: { url: string; eventTypes: WebhookEventType[] }) {
    const problems: FieldProblem[] = [];
    const problem = urlProblem(input.url.trim(), settings.outbound);
    if (problem) problems.push(problem);
    if (!input.eventTypes.length)
      problems.push({
        field: ['input', 'eventTypes'],
        message: 'subscribe to at least one event type',
        code: 'INVALID',
      });
    if (problems.length) return { problems };
    const now = clock.now();
    const doc: EndpointDoc = {
      _id: new Types.ObjectId(),
      url: input.url.trim(),
      eventTypes: WEBHOOK_EVENT_TYPES.filter((t) => input.eventTypes.includes(t)),
      secret: `whsec_${randomBytes(24).toString('base64')}`,
      enabled: true,
      createdAt: now,
      updatedAt: now,
    };
    await Endpoint.collection.insertOne(doc as never);
    endpointsCache.invalidate();
    return { endpoint: doc };
  }

  async function updateEndpoint(
    id: string,
    input: { url?: string | null; eventTypes?: WebhookEventType[] | null; enabled?: boolean | null },
  ) {
    const _id = objectIdOrNull(id);
    if (!_id) return notFound(['id'], 'no webhook endpoint has this id');
    const set: Partial<EndpointDoc> = { updatedAt: clock.now() };
    if (input.url != null) {
      const problem = urlProblem(input.url.trim(), settings.outbound);
      if (problem) return { problems: [problem] };
      set.url = input.url.trim();
    }
    if (input.eventTypes != null) {
      if (!input.eventTypes.length)
        return {
          problems: [
            {
              field: ['input', 'eventTypes'],
              message: 'subscribe to at least one event type',
              code: 'INVALID' as const,
            },
          ],
        };
      set.eventTypes = WEBHOOK_EVENT_TYPES.filter((t) => input.eventTypes!.includes(t));
    }
    if (input.enabled != null) {
      set.enabled = input.enabled;
      if (input.enabled) set.disabledReason = null;
    }
    const endpoint = await Endpoint.findOneAndUpdate(
      { _id },
      { $set: set },
      { returnDocument: 'after' },
    ).lean<EndpointDoc>();
    endpointsCache.invalidate();
    if (endpoint && input.enabled)
      await WebhookDelivery.updateMany(
        { endpointId: _id, status: 'PENDING' },
        { $set: { nextAttemptAt: clock.now(), leaseUntil: new Date(0) } },
      );
    return endpoint ? { endpoint } : notFound(['id'], 'no webhook endpoint has this id');
  }

  async function deleteEndpoint(id: string) {
    const _id = objectIdOrNull(id);
    const endpoint = _id && (await Endpoint.findOneAndDelete({ _id }).lean<EndpointDoc>());
    endpointsCache.invalidate();
    if (endpoint)
      await WebhookDelivery.updateMany(
        { endpointId: _id, status: 'PENDING' },
        { $set: { status: 'FAILED', lastError: 'the endpoint was deleted' } },
      );
    return endpoint ? { endpoint } : notFound(['id'], 'no webhook endpoint has this id');
  }

  async function listEndpoints(): Promise<EndpointDoc[]> {
    return Endpoint.find({}).sort({ createdAt: 1 }).lean<EndpointDoc[]>();
  }

  async function findEndpoint(id: string): Promise<EndpointDoc | null> {
    const _id = objectIdOrNull(id);
    return _id ? Endpoint.findById(_id).lean<EndpointDoc>() : null;
  }

  async function listDeliveries(
    endpointId: Types.ObjectId,
    args: { status?: DeliveryDoc['status'] | null; first: number; after?: string | null },
  ): Promise<Page<DeliveryDoc> | null> {
    const filter = { endpointId, ...(args.status ? { status: args.status } : {}) };
    return newestFirstPage(WebhookDelivery, filter, args, { path: 'createdAt', idKind: 'string' });
  }

  /** Queues one delivery; queuing the same id again changes nothing. */
  async function enqueue(id: string, endpointId: Types.ObjectId, eventType: WebhookEventType, body: unknown) {
    const now = clock.now();
    try {
      await WebhookDelivery.collection.insertOne({
        _id: id,
        endpointId,
        eventType,
        payload: JSON.stringify(body),
        status: 'PENDING',
        attempts: 0,
        nextAttemptAt: now,
        retryUntil: new Date(now.getTime() + settings.retryForMs),
        leaseUntil: new Date(0),
        createdAt: now,
      } satisfies DeliveryDoc as never);
    } catch (err) {
      if (!isDuplicateKeyError(err)) throw err;
    }
  }

  /** The webhook consumer's handler: one delivery per subscribed endpoint per event. */
  async function handleEvent(event: EventDoc): Promise<void> {
    const type = event.type as WebhookEventType;
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(type)) return;
    const subscribed = (await enabledEndpoints()).filter((e) => e.eventTypes.includes(type));
    if (!subscribed.length) return;
    const data = await eventData(event, deps.currency);
    if (!data) return;
    for (const e of subscribed)
      await enqueue(`${String(e._id)}:${event.seq}`, e._id, type, webhookBody(type, event.at, data));
  }

  async function redeliver(deliveryId: string) {
    const existing = await WebhookDelivery.findById(deliveryId).lean<DeliveryDoc>();
    if (!existing || !(await Endpoint.exists({ _id: existing.endpointId })))
      return notFound(['deliveryId'], 'no webhook delivery of an existing endpoint has this id');
    const now = clock.now();
    const delivery = await WebhookDelivery.findOneAndUpdate(
      { _id: deliveryId },
      {
        $set: {
          status: 'PENDING',
          nextAttemptAt: now,
          retryUntil: new Date(now.getTime() + settings.retryForMs),
          leaseUntil: new Date(0),
        },
      },
      { returnDocument: 'after' },
    ).lean<DeliveryDoc>();
    return delivery ? { delivery } : notFound(['deliveryId'], 'no webhook delivery has this id');
  }

  function backoffMs(attempts: number): number {
    const base = Math.min(settings.retryBaseMs * 2 ** (attempts - 1), MAX_BACKOFF_MS);
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  /** Sends one claimed delivery and records how it went. */
  async function attempt(delivery: DeliveryDoc): Promise<void> {
    const endpoint = await Endpoint.findById(delivery.endpointId).lean<EndpointDoc>();
    if (!endpoint || !endpoint.enabled) {
      // Disabled: it waits (enabling the endpoint brings it forward) until its retry window
      // ends; deleted: it fails now.
      const now = clock.now();
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
      return;
    }
    const sentAt = new Date();
    let responseCode: number | null = null;
    let error: string | null = null;
    try {
      const signer = new Webhook(endpoint.secret.replace(/^whsec_/, ''));
      const { status } = await outbound.post(endpoint.url, {
        headers: {
          'content-type': 'application/json',
          'webhook-id': delivery._id,
          'webhook-timestamp': String(Math.floor(sentAt.getTime() / 1000)),
          'webhook-signature': signer.sign(delivery._id, sentAt, delivery.payload),
        },
        body: delivery.payload,
        timeoutMs: settings.timeoutMs,
      });
      responseCode = status;
      if (status >= 300 && status < 400) error = `the endpoint answered HTTP ${status} (redirects are not followed)`;
      else if (status < 200 || status >= 300) error = `the endpoint answered HTTP ${status}`;
    } catch (err) {
      // A refused target has no response code: the API says nothing about what is behind it.
      error = err instanceof OutboundHttpError ? err.message : String(err);
    }
    const now = clock.now();
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
    const next = new Date(now.getTime() + backoffMs(attempts));
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
    // An endpoint that has not taken anything for as long as this delivery was retried is off.
    if (givesUp && (!endpoint.lastSuccessAt || endpoint.lastSuccessAt.getTime() < delivery.createdAt.getTime())) {
      await Endpoint.updateOne(
        {
          _id: endpoint._id,
          enabled: true,
          // Not if a delivery succeeded meanwhile (another worker, another delivery).
          $or: [{ lastSuccessAt: null }, { lastSuccessAt: mongoose.trusted({ $lt: delivery.createdAt }) }],
        },
        {
          $set: {
            enabled: false,
            disabledReason: `every delivery attempt failed for ${Math.round(settings.retryForMs / 3_600_000)} h (last: ${error})`,
            updatedAt: now,
          },
        },
      );
      endpointsCache.invalidate();
      deps.logger.warn(
        { endpoint: String(endpoint._id), url: endpoint.url },
        'webhook endpoint disabled after failing',
      );
    }
  }

  /**
   * Why a CALL_WEBHOOK step may not name an endpoint, per id: no endpoint has it, or its URL is
   * one outbound requests may not reach (saved before that was checked, or under another policy).
   */
  async function endpointCallCheck(): Promise<(id: string) => Pick<FieldProblem, 'message' | 'code'> | null> {
    const urls = new Map(
      (await Endpoint.find({}).select({ url: 1 }).lean<Pick<EndpointDoc, '_id' | 'url'>[]>()).map((e) => [
        String(e._id),
        e.url,
      ]),
    );
    return (id) => {
      const url = urls.get(id);
      if (url === undefined)
        return { message: 'CALL_WEBHOOK needs the id of an existing webhook endpoint', code: 'INVALID' };
      const refused = refusedUrlProblem(url, settings.outbound);
      return refused ? { message: `the endpoint's URL is ${refused}`, code: 'FORBIDDEN' } : null;
    };
  }

  /** One pass of the delivery worker: claims due deliveries (a lease each) and sends them. */
  async function deliverDue(): Promise<number> {
    let sent = 0;
    const due = claimDue(WebhookDelivery, {
      timeField: 'nextAttemptAt',
      now: clock.now(),
      leaseMs: settings.leaseMs,
      limit: DUE_PER_TICK,
    });
    for await (const claimed of due) {
      await attempt(claimed);
      sent++;
    }
    return sent;
  }

  return {
    createEndpoint,
    updateEndpoint,
    deleteEndpoint,
    listEndpoints,
    findEndpoint,
    listDeliveries,
    enqueue,
    handleEvent,
    redeliver,
    deliverDue,
    findDelivery: (id: string) => WebhookDelivery.findById(id).lean<DeliveryDoc>(),
    endpointCallCheck,
  };
}
