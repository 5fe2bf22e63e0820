import { setTimeout as delay } from 'node:timers/promises'
import { type FlexEndpoint, FlexError, type FlexErrorDetails } from './flex-errors.ts'
import { type CrewLine, type ParseResult, parseAddedLineId, parseCrewLines } from './flex-responses.ts'
import { parseRetryAfter, type RetryPolicy, withRetries } from './retry.ts'

export interface FlexClientOptions {
  /** Flex's API root, e.g. https://<tenant>.flexrentalsolutions.com/f5/api */
  baseUrl: string
  /** Sent as X-Auth-Token on every call; never written into an error. */
  authToken: string
  /** Upper bound on one HTTP attempt, reading the body included. */
  timeoutMs: number
  /** Attempts for the idempotent calls (list, set-role, remove). An add is always attempted once. */
  maxAttempts: number
  /** Backoff ceiling before the first retry (default 100), doubling up to retryMaxDelayMs (default 2000). */
  retryBaseDelayMs?: number
  retryMaxDelayMs?: number
  /** Longest wait a Retry-After header can impose (default 5000). */
  maxRetryAfterMs?: number
  fetch?: typeof fetch
  sleep?: (ms: number) => Promise<void>
  random?: () => number
  /** Called after every HTTP attempt (a retried call reports each attempt); must not throw. */
  onCall?: (call: FlexCallInfo) => void
}

export interface FlexCallInfo {
  endpoint: FlexEndpoint
  outcome: 'ok' | 'error'
  /** Absent when no answer came (timeout, network error). */
  status?: number
  /** 1 for the first attempt of a call. */
  attempt: number
  durationMs: number
}

interface FlexRequest {
  endpoint: FlexEndpoint
  method: 'GET' | 'POST' | 'DELETE'
  /** Below baseUrl, with every id segment encoded. */
  path: string
  json?: unknown
  /** A non-2xx status the call takes as an answer rather than a failure (404 for a remove). */
  alsoAccept?: number
}

interface FlexAnswer {
  status: number
  statusText: string
  retryAfter: string | null
  body: string
}

const segment = encodeURIComponent
const BODY_EXCERPT_LENGTH = 200

/**
 * The only code that speaks Flex's HTTP API. Every attempt is bounded by timeoutMs. Reads, role sets
 * and removes are idempotent and retried with jittered exponential backoff (Retry-After honored,
 * capped) on timeouts, network errors, 429 and 5xx; an add is never retried. Failures throw FlexError.
 */
export class FlexClient {
  private readonly baseUrl: string
  private readonly fetch: typeof fetch
  private readonly retryPolicy: RetryPolicy

  constructor(private readonly options: FlexClientOptions) {
    if (!options.authToken) throw new Error('FlexClient needs an auth token')
    this.baseUrl = options.baseUrl.replace(/\/+$/, '')
    this.fetch = options.fetch ?? globalThis.fetch
    this.retryPolicy = {
      maxAttempts: options.maxAttempts,
      baseDelayMs: options.retryBaseDelayMs ?? 100,
      maxDelayMs: options.retryMaxDelayMs ?? 2_000,
      maxRetryAfterMs: options.maxRetryAfterMs ?? 5_000,
      sleep: options.sleep ?? ((ms) => delay(ms)),
      random: options.random ?? Math.random,
    }
  }

  /** The element's crew lines as Flex has them now; rows of other kinds are left out. */
  listCrewLines(flexElementId: string): Promise<CrewLine[]> {
    const request: FlexRequest = {
      endpoint: 'list',
      method: 'GET',
      path: `/line-item/${segment(flexElementId)}/row-data/?codeList=contact&node=root`,
    }
    return withRetries(this.retryPolicy, async (attempt) => {
      const answer = await this.send(request, attempt)
      return this.decode(request, attempt, answer, parseCrewLines)
    })
  }

  /**
   * Books a technician on the element: exactly one attempt, since retrying after a lost answer would
   * add a second line. lineItemId is null when Flex's answer names no line. After any failure the
   * line may exist all the same: list the crew lines before adding again.
   */
  async addResource(flexElementId: string, flexResourceId: string): Promise<{ lineItemId: string | null }> {
    const request: FlexRequest = {
      endpoint: 'add',
      method: 'POST',
      path: `/line-item/${segment(flexElementId)}/add-resource/${segment(flexResourceId)}`,
    }
    const answer = await this.send(request, 1)
    if (answer.body.trim() === '') return { lineItemId: null }
    return { lineItemId: this.decode(request, 1, answer, parseAddedLineId) }
  }

  /** Sets the line's business role; setting it again is harmless. A line that is gone fails with 404. */
  async setBusinessRole(flexElementId: string, lineItemId: string, businessRoleId: string): Promise<void> {
    const request: FlexRequest = {
      endpoint: 'set-role',
      method: 'POST',
      path: `/line-item/${segment(flexElementId)}/row-data/`,
      json: { lineItemId, fieldType: 'business-role', payloadValue: businessRoleId },
    }
    await withRetries(this.retryPolicy, (attempt) => this.send(request, attempt))
  }

  /** Deletes a line; a line that no longer exists (404) counts as done. */
  async removeLine(lineItemId: string): Promise<'removed' | 'already-gone'> {
    const request: FlexRequest = {
      endpoint: 'remove',
      method: 'DELETE',
      path: `/line-item/${segment(lineItemId)}`,
      alsoAccept: 404,
    }
    const answer = await withRetries(this.retryPolicy, (attempt) => this.send(request, attempt))
    return answer.status === 404 ? 'already-gone' : 'removed'
  }

  /** One HTTP attempt: resolves with a 2xx (or the request's alsoAccept) answer, throws FlexError otherwise. */
  private async send(request: FlexRequest, attempt: number): Promise<FlexAnswer> {
    const started = performance.now()
    const report = (outcome: FlexCallInfo['outcome'], status?: number) =>
      this.options.onCall?.({
        endpoint: request.endpoint,
        outcome,
        status,
        attempt,
        durationMs: performance.now() - started,
      })
    let answer: FlexAnswer
    try {
      answer = await this.exchange(request)
    } catch (error) {
      report('error')
      throw this.transportError(request, attempt, error)
    }
    const accepted = (answer.status >= 200 && answer.status < 300) || answer.status === request.alsoAccept
    report(accepted ? 'ok' : 'error', answer.status)
    if (!accepted) throw this.httpError(request, attempt, answer)
    return answer
  }

  private async exchange({ method, path, json }: FlexRequest): Promise<FlexAnswer> {
    const response = await this.fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        'X-Auth-Token': this.options.authToken,
        Accept: 'application/json',
        ...(json !== undefined && { 'Content-Type': 'application/json' }),
      },
      body: json === undefined ? undefined : JSON.stringify(json),
      signal: AbortSignal.timeout(this.options.timeoutMs),
    })
    return {
      status: response.status,
      statusText: response.statusText,
      retryAfter: response.headers.get('retry-after'),
      body: await response.text(),
    }
  }

  private decode<T>(
    request: FlexRequest,
    attempt: number,
    answer: FlexAnswer,
    parse: (json: unknown) => ParseResult<T>,
  ): T {
    let json: unknown
    try {
      json = JSON.parse(answer.body)
    } catch {
      // Not attached as the cause: a SyntaxError quotes the body, which might echo the token.
      throw this.error(request, attempt, `the answer is not JSON: ${this.excerpt(answer.body)}`, {
        kind: 'bad-response',
        status: answer.status,
      })
    }
    const result = parse(json)
    if (result.ok) return result.value
    throw this.error(request, attempt, `unexpected answer: ${result.problem}`, {
      kind: 'bad-response',
      status: answer.status,
      cause: result.cause,
    })
  }

  private transportError(request: FlexRequest, attempt: number, error: unknown): FlexError {
    if (isTimeout(error)) {
      return this.error(request, attempt, `no answer within ${this.options.timeoutMs} ms`, {
        kind: 'timeout',
        cause: error,
      })
    }
    return this.error(request, attempt, `network error: ${this.redact(networkReason(error))}`, {
      kind: 'network',
      cause: error,
    })
  }

  private httpError(request: FlexRequest, attempt: number, answer: FlexAnswer): FlexError {
    const status = `HTTP ${answer.status} ${answer.statusText}`.trim()
    const excerpt = this.excerpt(answer.body)
    const reason = excerpt ? `${status}: ${excerpt}` : status
    return this.error(request, attempt, reason, {
      kind: 'http',
      status: answer.status,
      retryAfterMs: parseRetryAfter(answer.retryAfter),
    })
  }

  private error(
    request: FlexRequest,
    attempt: number,
    reason: string,
    details: Omit<FlexErrorDetails, 'endpoint' | 'attempts'>,
  ): FlexError {
    const where = `${request.method} ${request.path.replace(/\?.*$/, '')}`
    const attempts = attempt === 1 ? '1 attempt' : `${attempt} attempts`
    return new FlexError(`Flex ${request.endpoint} (${where}) failed after ${attempts}: ${reason}`, {
      ...details,
      endpoint: request.endpoint,
      attempts: attempt,
    })
  }

  /** The start of an answer's body, on one line, for an error message. */
  private excerpt(body: string): string {
    return this.redact(body).replace(/\s+/g, ' ').trim().slice(0, BODY_EXCERPT_LENGTH)
  }

  /** Text from outside (answer bodies, socket errors) may echo the token: it never reaches a message. */
  private redact(text: string): string {
    return text.replaceAll(this.options.authToken, '[redacted]')
  }
}

/** AbortSignal.timeout aborts fetch, and the body read, with a DOMException named TimeoutError. */
function isTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === 'TimeoutError'
}

/** fetch rejects with TypeError('fetch failed') and the socket's error as its cause. */
function networkReason(error: unknown): string {
  const cause = error instanceof Error && error.cause !== undefined ? error.cause : error
  if (!(cause instanceof Error)) return String(cause)
  const code = (cause as NodeJS.ErrnoException).code
  return cause.message || code || cause.name
}
