/**
 * What went wrong talking to a CRM decides what the queue does next:
 * - `rate_limited`: wait `retryAfterMs` (the CRM's Retry-After), then retry.
 * - `transient`: network error, timeout, 5xx: retry with exponential backoff.
 * - `permanent`: the CRM refused the request itself (4xx, bad data, unknown contact): do not
 *   retry, log the reason.
 */
export type CrmErrorKind = 'rate_limited' | 'transient' | 'permanent';

export class CrmError extends Error {
  override readonly name = 'CrmError';
  constructor(
    readonly kind: CrmErrorKind,
    message: string,
    readonly status: number | null = null,
    readonly retryAfterMs: number | null = null,
  ) {
    super(message);
  }
}

/** A webhook the CRM adapter refuses: bad signature (401) or a body it cannot read (400). */
export class CrmWebhookError extends Error {
  override readonly name = 'CrmWebhookError';
  constructor(
    readonly code: 'invalid_signature' | 'malformed_body',
    message: string,
  ) {
    super(message);
  }
}
