/**
 * HTTP to addresses that users give us (webhook endpoints, the campaign WEBHOOK provider),
 * guarded against server-side request forgery. A URL's host is resolved once, every address it
 * resolves to is checked, and the connection goes to exactly those addresses (a pinned
 * `lookup`): a DNS answer that changes between the check and the connect (DNS rebinding) never
 * reaches a socket. Loopback, private, link-local, CGNAT, metadata and other special-purpose
 * addresses are refused unless the policy allows them; redirects are never followed (node:http
 * does not follow them), so a 3xx is an answer like any other.
 */
import type { LookupAddress } from 'node:dns';
import dns from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import net, { type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Logger } from './logger.js';

export type OutboundPolicy = {
  /** Special-purpose addresses (loopback, private, …) may be reached, with a warning in the log. */
  allowPrivate: boolean;
  /** Hosts (as `normaliseHost` writes them) reached whatever they resolve to. */
  allowedHosts: readonly string[];
};

export type OutboundRequest = { headers: Record<string, string>; body: string; timeoutMs: number };

/** REFUSED: the policy forbids the target, nothing was sent; TIMEOUT and NETWORK: no answer came. */
export type OutboundFailure = 'REFUSED' | 'TIMEOUT' | 'NETWORK';

export class OutboundHttpError extends Error {
  override name = 'OutboundHttpError';
  readonly failure: OutboundFailure;
  constructor(failure: OutboundFailure, message: string) {
    super(message);
    this.failure = failure;
  }
}

/** Idle keep-alive sockets close after this, below the 5 s a Node server keeps them. */
const IDLE_SOCKET_MS = 4_000;

/** Instance metadata services: AWS, ECS tasks, Alibaba, Oracle, AWS over IPv6. */
const METADATA_ADDRESSES = new Set(
  ['169.254.169.254', '169.254.170.2', '100.100.100.200', '192.0.0.192', 'fd00:ec2::254'].map((a) =>
    ipaddr.parse(a).toNormalizedString(),
  ),
);

const RANGE_WORDS: Record<string, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  uniqueLocal: 'a private address',
  linkLocal: 'a link-local address',
  carrierGradeNat: 'a shared (CGNAT) address',
  unspecified: 'the unspecified address',
};

/** What makes an IP address unfit for outbound requests, or null for a global unicast one. */
export function forbiddenAddressKind(address: string): string | null {
  const ip = ipaddr.process(address); // an IPv4-mapped IPv6 address is judged as IPv4
  if (METADATA_ADDRESSES.has(ip.toNormalizedString())) return 'a cloud metadata address';
  const range = ip.range();
  if (range === 'unicast') return null;
  // NAT64 (64:ff9b::/96): the IPv4 address in the last 32 bits is the real destination.
  if (range === 'rfc6052') return forbiddenAddressKind(ipaddr.fromByteArray(ip.toByteArray().slice(-4)).toString());
  return RANGE_WORDS[range] ?? `a special-purpose address (${range})`;
}

/** A URL's host as WEBHOOK_ALLOWED_HOSTS lists it: lower case, IPv6 without brackets, no final dot. */
function hostOf(url: URL): string {
  return url.hostname.replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
}

/** A host name or address in the form `hostOf` gives, or null if `entry` is not just a host. */
export function normaliseHost(entry: string): string | null {
  const text = entry.trim();
  if (/:\d*$/.test(text)) return null; // a port (the URL would drop a default one silently)
  try {
    const url = new URL(`http://${text}/`);
    return url.href === `http://${url.hostname}/` ? hostOf(url) : null;
  } catch {
    return null;
  }
}

const isLocalhostName = (host: string) => host === 'localhost' || host.endsWith('.localhost');

const refusal = (what: string) =>
  `refused: ${what}, which outbound webhooks may not reach (WEBHOOK_ALLOWED_HOSTS lists hosts that may)`;

/**
 * Why a URL may not be saved as an outbound target: its host is an address (or `localhost`)
 * that delivery would refuse. Host names are checked again at each delivery, after DNS.
 * A malformed URL is its caller's to report.
 */
export function refusedUrlProblem(url: string, policy: OutboundPolicy): string | null {
  if (policy.allowPrivate || !URL.canParse(url)) return null;
  const host = hostOf(new URL(url));
  if (policy.allowedHosts.includes(host)) return null;
  const kind = isLocalhostName(host) ? 'a loopback address' : net.isIP(host) ? forbiddenAddressKind(host) : null;
  return kind ? refusal(`${host} is ${kind}`) : null;
}

/** `work`, or the signal's reason if it aborts first (a DNS lookup cannot be cancelled). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** A `lookup` that answers with the addresses already checked instead of asking DNS again. */
function pinnedLookup(addresses: LookupAddress[]): LookupFunction {
  return (_host, options, callback) => {
    const fitting = options.family ? addresses.filter((a) => a.family === options.family) : addresses;
    const first = fitting[0];
    if (!first) callback(Object.assign(new Error('no address of the requested family'), { code: 'ENOTFOUND' }), '');
    else if (options.all) callback(null, fitting);
    else callback(null, first.address, first.family);
  };
}

export type OutboundHttp = ReturnType<typeof createOutboundHttp>;

/** A client for one policy, with its own keep-alive connection pools. */
export function createOutboundHttp(deps: { policy: OutboundPolicy; logger?: Logger }) {
  const { policy, logger } = deps;
  const agents: Record<string, http.Agent> = {
    'http:': new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
    'https:': new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  };
  const warnedHosts = new Set<string>();

  /** The addresses to connect to, each checked against the policy. */
  async function checkedAddresses(target: URL, signal: AbortSignal): Promise<LookupAddress[]> {
    const host = hostOf(target);
    const family = net.isIP(host);
    const addresses = family
      ? [{ address: host, family }]
      : await untilAborted(dns.lookup(host, { all: true }), signal);
    if (policy.allowedHosts.includes(host)) return addresses;
    for (const { address } of addresses) {
      const kind = forbiddenAddressKind(address);
      if (!kind) continue;
      if (!policy.allowPrivate) {
        logger?.warn({ host, address, kind }, 'outbound request refused');
        // The resolved address stays in the log: the error is shown to API users.
        throw new OutboundHttpError('REFUSED', refusal(family ? `${host} is ${kind}` : `${host} resolves to ${kind}`));
      }
      if (!warnedHosts.has(host)) {
        warnedHosts.add(host);
        logger?.warn(
          { host, address, kind },
          'outbound request to a special-purpose address: allowed here, refused in production (WEBHOOK_ALLOW_PRIVATE)',
        );
      }
    }
    return addresses;
  }

  function send(target: URL, addresses: LookupAddress[], request: OutboundRequest, signal: AbortSignal) {
    return new Promise<number>((resolve, reject) => {
      const req = (target.protocol === 'https:' ? https : http).request(
        target,
        {
          method: 'POST',
          headers: { ...request.headers, 'content-length': String(Buffer.byteLength(request.body)) },
          agent: agents[target.protocol],
          lookup: pinnedLookup(addresses),
        },
        (res) => {
          // Only the status is kept. The body is read to its end (so the socket can be reused),
          // or cut by the timeout, which is then no failure: the answer has come.
          res.on('error', () => {});
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      const onAbort = () => req.destroy(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      req.on('close', () => signal.removeEventListener('abort', onAbort));
      req.on('error', reject);
      req.end(request.body);
    });
  }

  /** POSTs `request.body` to `url`; resolves with the answer's status, or throws an OutboundHttpError. */
  async function post(url: string, request: OutboundRequest): Promise<{ status: number }> {
    const signal = AbortSignal.timeout(request.timeoutMs);
    try {
      const target = new URL(url);
      if (target.protocol !== 'http:' && target.protocol !== 'https:')
        throw new OutboundHttpError('REFUSED', `refused: ${target.protocol} is not http or https`);
      return { status: await send(target, await checkedAddresses(target, signal), request, signal) };
    } catch (err) {
      if (err instanceof OutboundHttpError) throw err;
      if (signal.aborted) throw new OutboundHttpError('TIMEOUT', `no answer within ${request.timeoutMs} ms`);
      throw new OutboundHttpError('NETWORK', (err as Error).message);
    }
  }

  return { post };
}
