import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'

const SECRET_PREFIX = 'whsec_'

/** A new endpoint secret: `whsec_` and the base64 of 32 random bytes (Standard Webhooks' format). */
export function generateWebhookSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64')
}

/**
 * The `webhook-signature` header of one attempt: `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`
 * for each secret, space-separated (two while a rotated secret's overlap lasts). Signed by the
 * standardwebhooks implementation of the specification.
 */
export function signWebhook(secrets: readonly string[], id: string, timestamp: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(id, timestamp, body)).join(' ')
}
