/**
 * Verifying rostersync's webhooks (Standard Webhooks): `verifyWebhook(secret, headers, body)` checks the
 * signature (any of the space-separated ones, so both secrets verify during a rotation's overlap) and
 * that webhook-timestamp is within 5 minutes, then returns the typed event. Pass the raw body, as
 * received, never a re-serialized one.
 */
import { Webhook } from 'standardwebhooks'

export interface WebhookEventData {
  'calendar-set.changed': {
    userId: string
    version: number
    created: number
    updated: number
    deleted: number
    restoredFrom: number | null
  }
  'roster.changed': { jobId: string; department: string; version: number }
  'crew-sync.finished': {
    jobId: string
    department: string
    runId: string
    trigger: 'manual' | 'change' | 'retry' | 'resync'
    status: 'succeeded' | 'partial' | 'failed' | 'deferred'
    error: string | null
  }
  'crew-call.sync-failed': { jobId: string; department: string; attempts: number; lastError: string | null }
}

export type WebhookEventType = keyof WebhookEventData

/** One delivered event: `type`, when the change happened (`timestamp`, ISO 8601), and its thin `data`. */
export type WebhookEvent = {
  [T in WebhookEventType]: { type: T; timestamp: string; data: WebhookEventData[T] }
}[WebhookEventType]

/** Headers as a Headers object, Node's IncomingHttpHeaders, or a plain record. */
export type WebhookHeaders = Headers | Record<string, string | string[] | undefined>

function header(headers: WebhookHeaders, name: string): string {
  const value = headers instanceof Headers ? headers.get(name) : headers[name]
  return (Array.isArray(value) ? value[0] : value) ?? ''
}

/**
 * The event, when the request is a genuine and fresh rostersync webhook; throws otherwise (answer it
 * 400). Deduplicate by `headers['webhook-id']`: a retry carries the same one.
 */
export function verifyWebhook(
  secret: string,
  headers: WebhookHeaders,
  body: string | Uint8Array,
): WebhookEvent {
  const payload = typeof body === 'string' ? body : new TextDecoder().decode(body)
  return new Webhook(secret).verify(payload, {
    'webhook-id': header(headers, 'webhook-id'),
    'webhook-timestamp': header(headers, 'webhook-timestamp'),
    'webhook-signature': header(headers, 'webhook-signature'),
  }) as WebhookEvent
}
