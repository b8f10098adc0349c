import { randomBytes } from 'node:crypto';
import { Types } from 'mongoose';
import type { Clock } from '../../shared/clock.js';
import { objectIdOrNull } from '../../shared/ids.js';
import { refusedUrlProblem, type OutboundPolicy } from '../../shared/outbound-http.js';
import { notFound, problem, type FieldProblem } from '../../shared/problems.js';
import { createTtlCache } from '../../shared/ttl-cache.js';
import { Endpoint, WEBHOOK_EVENT_TYPES, WebhookDelivery, type EndpointDoc, type WebhookEventType } from './model.js';
import type { WebhookSettings } from './settings.js';

/** The enabled endpoints, read at most once a second by the event consumer. */
export type EnabledEndpoints = ReturnType<typeof enabledEndpointsCache>;

export function enabledEndpointsCache() {
  return createTtlCache(1_000, () => Endpoint.find({ enabled: true }).lean<EndpointDoc[]>().exec());
}

export type EndpointDeps = { clock: Clock; settings: WebhookSettings; enabledEndpoints: EnabledEndpoints };

/** The endpoint as it is now, or why not. */
export type EndpointResult =
  { endpoint: EndpointDoc; problems?: undefined } | { endpoint?: undefined; problems: FieldProblem[] };

const noEventTypes = () => problem(['input', 'eventTypes'], 'subscribe to at least one event type', 'INVALID');

function urlProblem(url: string, policy: OutboundPolicy): FieldProblem | null {
  const invalid = (message: string): FieldProblem => ({ field: ['input', 'url'], message, code: 'INVALID' });
  if (!URL.canParse(url)) return invalid('not a valid URL');
  const { protocol } = new URL(url);
  if (protocol !== 'http:' && protocol !== 'https:') return invalid('the URL must be http or https');
  if (url.length > 2_000) return invalid('the URL is too long');
  const refused = refusedUrlProblem(url, policy);
  return refused ? { field: ['input', 'url'], message: refused, code: 'FORBIDDEN' } : null;
}

/** The event types in their canonical order, each once. */
const canonicalTypes = (types: readonly WebhookEventType[]) => WEBHOOK_EVENT_TYPES.filter((t) => types.includes(t));

export async function createEndpoint(
  deps: EndpointDeps,
  input: { url: string; eventTypes: WebhookEventType[] },
): Promise<EndpointResult> {
  const problems: FieldProblem[] = [];
  const refused = urlProblem(input.url.trim(), deps.settings.outbound);
  if (refused) problems.push(refused);
  if (!input.eventTypes.length) problems.push(...noEventTypes().problems);
  if (problems.length) return { problems };
  const now = deps.clock.now();
  const endpoint: EndpointDoc = {
    _id: new Types.ObjectId(),
    url: input.url.trim(),
    eventTypes: canonicalTypes(input.eventTypes),
    secret: `whsec_${randomBytes(24).toString('base64')}`,
    enabled: true,
    createdAt: now,
    updatedAt: now,
  };
  await Endpoint.collection.insertOne(endpoint);
  deps.enabledEndpoints.invalidate();
  return { endpoint };
}

export async function updateEndpoint(
  deps: EndpointDeps,
  id: string,
  input: { url?: string | null; eventTypes?: WebhookEventType[] | null; enabled?: boolean | null },
): Promise<EndpointResult> {
  const _id = objectIdOrNull(id);
  if (!_id) return notFound('webhook endpoint');
  const set: Partial<EndpointDoc> = { updatedAt: deps.clock.now() };
  if (input.url != null) {
    const refused = urlProblem(input.url.trim(), deps.settings.outbound);
    if (refused) return { problems: [refused] };
    set.url = input.url.trim();
  }
  if (input.eventTypes != null) {
    if (!input.eventTypes.length) return noEventTypes();
    set.eventTypes = canonicalTypes(input.eventTypes);
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
  deps.enabledEndpoints.invalidate();
  // Enabled again: what waited for it is due now.
  if (endpoint && input.enabled)
    await WebhookDelivery.updateMany(
      { endpointId: _id, status: 'PENDING' },
      { $set: { nextAttemptAt: deps.clock.now(), leaseUntil: new Date(0) } },
    );
  return endpoint ? { endpoint } : notFound('webhook endpoint');
}

export async function deleteEndpoint(deps: EndpointDeps, id: string): Promise<EndpointResult> {
  const _id = objectIdOrNull(id);
  const endpoint = _id && (await Endpoint.findOneAndDelete({ _id }).lean<EndpointDoc>());
  deps.enabledEndpoints.invalidate();
  if (endpoint)
    await WebhookDelivery.updateMany(
      { endpointId: _id, status: 'PENDING' },
      { $set: { status: 'FAILED', lastError: 'the endpoint was deleted' } },
    );
  return endpoint ? { endpoint } : notFound('webhook endpoint');
}

export async function listEndpoints(): Promise<EndpointDoc[]> {
  return Endpoint.find({}).sort({ createdAt: 1 }).lean<EndpointDoc[]>();
}

export async function findEndpoint(id: string): Promise<EndpointDoc | null> {
  const _id = objectIdOrNull(id);
  return _id ? Endpoint.findById(_id).lean<EndpointDoc>() : null;
}

/**
 * Why a CALL_WEBHOOK step may not name an endpoint, per id: no endpoint has it, or its URL is
 * one outbound requests may not reach (saved before that was checked, or under another policy).
 */
export async function endpointCallCheck(
  deps: Pick<EndpointDeps, 'settings'>,
): Promise<(id: string) => Pick<FieldProblem, 'message' | 'code'> | null> {
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
    const refused = refusedUrlProblem(url, deps.settings.outbound);
    return refused ? { message: `the endpoint's URL is ${refused}`, code: 'FORBIDDEN' } : null;
  };
}
