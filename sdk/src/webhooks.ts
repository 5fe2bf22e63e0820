/**
 * Verifying rostersync's webhooks (Standard Webhooks): `verifyWebhook(secret, headers, body)` checks the
 * signature (any of the space-separated ones, so both secrets verify during a rotation's overlap) and
 * that webhook-timestamp is within 5 minutes, then returns the typed event. Pass the raw body, as
 * received, never a re-serialized one.
 */
import { Webhook } from 'standardwebhooks'
import type { webhooks } from './schema.js'

/** The event types, as the OpenAPI document's `webhooks` name them. */
export type WebhookEventType = keyof webhooks

/** The body of each event type's deliveries, from the document (generated from the server's own payload schemas). */
type EventBody<T extends WebhookEventType> = webhooks[T]['post'] extends {
  requestBody: { content: { 'application/json': infer B } }
}
  ? B
  : never

/** The `data` of each event type: thin, read the details through the API. */
export type WebhookEventData = {
  [T in WebhookEventType]: EventBody<T> extends { data: infer D } ? D : never
}

/** One delivered event: `type`, when the change happened (`timestamp`, ISO 8601), and its thin `data`. */
export type WebhookEvent = { [T in WebhookEventType]: EventBody<T> }[WebhookEventType]

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
