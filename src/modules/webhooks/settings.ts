import type { OutboundPolicy } from '../../shared/outbound-http.js';

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
