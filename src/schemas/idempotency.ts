import { identifier } from './common.ts'

/** The request header (IETF draft "The Idempotency-Key HTTP Header Field"; Stripe's semantics). */
export const IDEMPOTENCY_KEY_HEADER = 'idempotency-key'

/** Sent on a replayed response, as Stripe does. */
export const IDEMPOTENT_REPLAYED_HEADER = 'idempotent-replayed'

/** 1-255 visible ASCII characters (a UUID is a good key); the value is opaque, quotes included. */
export const MAX_IDEMPOTENCY_KEY_LENGTH = 255

export const idempotencyKeySchema = identifier()
  .max(MAX_IDEMPOTENCY_KEY_LENGTH, `must be at most ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`)
  .regex(/^[\x21-\x7e]{1,255}$/, 'must be 1-255 visible ASCII characters (e.g. a UUID)')
  .describe(
    'Makes a retry safe: the first request with a key runs and its response is kept for ' +
      'IDEMPOTENCY_TTL_SECONDS (default 24 h); a retry with the same key, body, query and If-Match gets ' +
      'that response again, byte for byte, with `Idempotent-Replayed: true`, and runs nothing. Keys are ' +
      'scoped by credential, method and path. The same key with another body, query or If-Match: 422; ' +
      'while the first request still runs: 409 with Retry-After, at once. 5xx answers and 409 conflicts ' +
      'are not kept, so such a request may be retried with the same key.',
  )
