import pMap from 'p-map';
import pRetry, { AbortError } from 'p-retry';
import { Webhook } from 'standardwebhooks';
import type { Config } from '../../config.js';
import type { Logger } from '../../shared/logger.js';
import { createOutboundHttp, OutboundHttpError } from '../../shared/outbound-http.js';
import type { CampaignChannel, RecipientDoc } from './model.js';

/** One rendered message for one recipient. `deliveryId` is its idempotency key everywhere. */
export type OutgoingMessage = {
  deliveryId: string;
  ordinal: number;
  campaign: { id: string; code: string; name: string };
  recipient: RecipientDoc;
  body: string;
};

export type SendOutcome = { status: 'DELIVERED' | 'FAILED'; attempts: number; error?: string };

/** A channel: sends a batch and says, per message and in order, how it went. Never throws per message. */
export type ChannelAdapter = { send(messages: OutgoingMessage[]): Promise<SendOutcome[]> };

/**
 * The built-in outbox: the transactional-outbox pattern without transactions. The rendered
 * message and its address are recorded in the delivery document itself (`campaign_deliveries`,
 * read through `outboxMessages`), in the same single-document write that records the delivery,
 * so there is no moment where one exists without the other, and a relay reading the outbox sees
 * each message exactly once. Nothing leaves the process: every message is delivered.
 */
export const outboxAdapter: ChannelAdapter = {
  send: async (messages) => messages.map(() => ({ status: 'DELIVERED', attempts: 1 })),
};

export type WebhookSettings = NonNullable<Config['campaigns']['webhook']>;

/** HTTP statuses worth another try: the provider may answer differently later. */
function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

/**
 * POSTs each message to the provider, signed per the Standard Webhooks scheme (the signature
 * covers the id, the timestamp and the body) and with the delivery id as `Idempotency-Key`, so a
 * provider can drop a message it already has: a crash between its answer and our write resends.
 * Timeouts, network errors and retryable statuses are retried with exponential backoff and
 * jitter; other statuses (a redirect too: none is followed), a provider address the outbound
 * policy refuses, or the last try, fail the delivery with the reason.
 */
export function webhookAdapter(settings: WebhookSettings, logger?: Logger): ChannelAdapter {
  const signer = new Webhook(settings.secret.replace(/^whsec_/, ''));
  const outbound = createOutboundHttp({ policy: settings.outbound, logger });

  async function post(m: OutgoingMessage): Promise<SendOutcome> {
    let attempts = 0;
    const body = JSON.stringify({
      type: 'campaign.message',
      deliveryId: m.deliveryId,
      campaign: m.campaign,
      recipient: {
        customerId: String(m.recipient.customerId),
        code: m.recipient.code,
        name: m.recipient.name,
        email: m.recipient.email ?? null,
        phone: m.recipient.phone ?? null,
      },
      message: m.body,
    });
    try {
      await pRetry(
        async () => {
          attempts++;
          const now = new Date();
          const { status } = await outbound
            .post(settings.url, {
              headers: {
                'content-type': 'application/json',
                'idempotency-key': m.deliveryId,
                'webhook-id': m.deliveryId,
                'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
                'webhook-signature': signer.sign(m.deliveryId, now, body),
              },
              body,
              timeoutMs: settings.timeoutMs,
            })
            .catch((err: unknown) => {
              throw err instanceof OutboundHttpError && err.failure === 'REFUSED' ? new AbortError(err.message) : err;
            });
          if (status >= 200 && status < 300) return;
          const isRedirect = status >= 300 && status < 400;
          const reason = `the provider answered HTTP ${status}${isRedirect ? ' (redirects are not followed)' : ''}`;
          if (!isRetryableStatus(status)) throw new AbortError(reason);
          throw new Error(reason);
        },
        {
          retries: settings.maxAttempts - 1,
          factor: 2,
          minTimeout: settings.retryBaseMs,
          maxTimeout: Math.max(settings.retryBaseMs, 60_000),
          randomize: true,
        },
      );
      return { status: 'DELIVERED', attempts };
    } catch (err) {
      return { status: 'FAILED', attempts, error: (err as Error).message };
    }
  }

  return {
    send: (messages) => pMap(messages, post, { concurrency: settings.concurrency }),
  };
}

export function adapterFor(
  channel: CampaignChannel,
  deps: { webhook: WebhookSettings | null; logger?: Logger },
): ChannelAdapter | null {
  if (channel === 'OUTBOX') return outboxAdapter;
  return deps.webhook ? webhookAdapter(deps.webhook, deps.logger) : null;
}
