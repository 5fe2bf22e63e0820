import { bearerChallenge } from '../auth/bearer-challenge.ts'
import { etag } from '../schemas/common.ts'

/**
 * Errors services throw. Each names its problem kind; src/plugins/problem-details.ts renders every kind as an
 * RFC 9457 problem+json from one table. Services never build HTTP responses themselves.
 */
export type ProblemKind =
  | 'validation'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'version-pruned'
  | 'history-gone'
  | 'precondition-failed'
  | 'request-timeout'
  | 'conflict'
  | 'rate-limited'
  | 'idempotency-key-reused'
  | 'idempotency-key-in-use'
  | 'service-unavailable'
  | 'upstream'
  | 'flex-not-configured'

/** One field at fault: where it is (`in`) and a JSON pointer into that part of the request. */
export interface FieldError {
  in: 'body' | 'path' | 'query' | 'header'
  pointer: string
  detail: string
}

export interface DomainErrorOptions extends ErrorOptions {
  /** Sent as Retry-After (503s without it get the configured default). */
  retryAfterSeconds?: number
}

export abstract class DomainError extends Error {
  abstract readonly kind: ProblemKind
  readonly retryAfterSeconds?: number

  constructor(message: string, options: DomainErrorOptions = {}) {
    super(message, options)
    this.retryAfterSeconds = options.retryAfterSeconds
  }

  /** Headers the answer carries besides the problem (Retry-After is the error plugin's, from retryAfterSeconds). */
  headers(): Record<string, string> {
    return {}
  }
}

/** One line naming every field at fault, e.g. `body /calendars/2/calendarId: duplicates ...`. */
export const describeFieldErrors = (errors: FieldError[]) =>
  errors.map((error) => `${error.in} ${error.pointer || '/'}: ${error.detail}`).join('; ')

export class ValidationError extends DomainError {
  readonly kind = 'validation'
  constructor(
    readonly errors: FieldError[],
    message = describeFieldErrors(errors),
  ) {
    super(message)
  }
}

/**
 * No credentials, or credentials that do not authenticate (401). `bearerError` is the RFC 6750 error
 * code for the WWW-Authenticate challenge: absent when the request carried no bearer token at all.
 */
export class UnauthorizedError extends DomainError {
  readonly kind = 'unauthorized'
  constructor(
    message: string,
    readonly bearerError?: 'invalid_token',
  ) {
    super(message)
  }

  override headers() {
    return { 'www-authenticate': bearerChallenge(this.bearerError, this.message) }
  }
}

/** Authenticated, but this caller may not do this (403). */
export class ForbiddenError extends DomainError {
  readonly kind = 'forbidden'
  readonly bearerError = 'insufficient_scope'

  override headers() {
    return { 'www-authenticate': bearerChallenge(this.bearerError, this.message) }
  }
}

export class NotFoundError extends DomainError {
  readonly kind = 'not-found'
}

/** A version older than the history kept (404): it can no longer be read or restored. */
export class VersionPrunedError extends DomainError {
  readonly kind = 'version-pruned'
}

/** A changes feed asked from a version older than the history kept (410): re-read the whole set. */
export class HistoryGoneError extends DomainError {
  readonly kind = 'history-gone'
}

export class PreconditionFailedError extends DomainError {
  readonly kind = 'precondition-failed'
  constructor(
    message: string,
    readonly currentVersion: number,
  ) {
    super(message)
  }

  /** The current ETag, so the client can read what changed and retry with it. */
  override headers() {
    return { etag: etag(this.currentVersion) }
  }
}

export class ConflictError extends DomainError {
  readonly kind = 'conflict'
}

/**
 * A request's body did not arrive in time (408): the connection is closed with the answer, so a client
 * that stalls mid-body cannot send the rest of it as a next request.
 */
export class RequestTimeoutError extends DomainError {
  readonly kind = 'request-timeout'

  override headers() {
    return { connection: 'close' }
  }
}

/** The database (or another dependency) is overloaded or restarting: the client should retry later. */
export class ServiceUnavailableError extends DomainError {
  readonly kind = 'service-unavailable'
}

export class UpstreamError extends DomainError {
  readonly kind = 'upstream'
}

/** The caller spent its request budget; retry after `retryAfterSeconds`. */
export class TooManyRequestsError extends DomainError {
  readonly kind = 'rate-limited'
}

/** An Idempotency-Key already used, in its scope, for a request with another body or query (422). */
export class IdempotencyKeyReusedError extends DomainError {
  readonly kind = 'idempotency-key-reused'
}

/** The first request with this Idempotency-Key is still running (409); retry after `retryAfterSeconds`. */
export class IdempotencyKeyInUseError extends DomainError {
  readonly kind = 'idempotency-key-in-use'
}

/**
 * This deployment has no Flex settings, so nothing can sync (501): not temporary, so no Retry-After;
 * an operator sets FLEX_BASE_URL and FLEX_AUTH_TOKEN and restarts the service.
 */
export class FlexNotConfiguredError extends DomainError {
  readonly kind = 'flex-not-configured'
  constructor(what: string) {
    super(
      `Flex is not configured, so ${what}: an operator sets FLEX_BASE_URL and FLEX_AUTH_TOKEN and restarts ` +
        'the service; retrying before then gets the same answer',
    )
  }
}
