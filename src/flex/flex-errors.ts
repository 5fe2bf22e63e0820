/** Stable labels for the four Flex calls, for logs and metrics. */
export type FlexEndpoint = 'list' | 'add' | 'set-role' | 'remove'

/**
 * - timeout: no complete answer within the client's timeout;
 * - network: the connection failed or was dropped;
 * - http: Flex answered with a status the call does not accept;
 * - unauthorized: the token was refused: a 401 or 403, a redirect (to the login page), or an HTML page
 *   where JSON was due;
 * - rejected: Flex answered 2xx with `{ "success": false }`;
 * - rate-limited: a 429: the rest of the run is deferred, not retried now;
 * - bad-response: Flex answered 2xx with a body that is not JSON, does not have a shape we can read, or
 *   is larger than FLEX_MAX_ANSWER_BYTES (its read is stopped there).
 */
export type FlexErrorKind =
  | 'timeout'
  | 'network'
  | 'http'
  | 'unauthorized'
  | 'rejected'
  | 'rate-limited'
  | 'bad-response'

export interface FlexErrorDetails {
  kind: FlexErrorKind
  endpoint: FlexEndpoint
  /** Attempts made, this one included. */
  attempts: number
  status?: number
  /** Retry-After of a 429 or 503, in milliseconds, uncapped. */
  retryAfterMs?: number
  cause?: unknown
}

/**
 * A failed Flex call. `retryable` says whether the failure is transient (timeout, network, 5xx):
 * the same call may succeed later. It does not mean the call had no effect: an add that failed this
 * way may have created its line, so the caller lists the crew lines before adding again.
 * The message never contains the auth token.
 */
export class FlexError extends Error {
  override name = 'FlexError'
  readonly kind: FlexErrorKind
  readonly endpoint: FlexEndpoint
  readonly attempts: number
  readonly status: number | undefined
  readonly retryAfterMs: number | undefined
  readonly retryable: boolean

  constructor(message: string, details: FlexErrorDetails) {
    super(message, { cause: details.cause })
    this.kind = details.kind
    this.endpoint = details.endpoint
    this.attempts = details.attempts
    this.status = details.status
    this.retryAfterMs = details.retryAfterMs
    this.retryable = isTransient(details.kind, details.status)
  }
}

function isTransient(kind: FlexErrorKind, status: number | undefined): boolean {
  if (kind === 'timeout' || kind === 'network') return true
  if (kind === 'http' && status !== undefined) return status >= 500
  return false
}

/** AbortSignal.timeout aborts fetch, and the body read, with a DOMException named TimeoutError. */
export function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === 'TimeoutError'
}

/** fetch rejects with TypeError('fetch failed') and the socket's error as its cause. */
export function networkReason(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error
  if (!(cause instanceof Error)) return String(cause)
  const code = (cause as NodeJS.ErrnoException).code
  return cause.message || code || cause.name
}
