import { setTimeout as delay } from 'node:timers/promises'
import { type FlexEndpoint, FlexError, type FlexErrorDetails, type FlexErrorKind } from './flex-errors.ts'
import { flexMessage, type ParseResult, parseAddedLineId, refusalIn } from './flex-responses.ts'
import { type FlexRow, readRows } from './flex-rows.ts'
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
  /** 'ok', or the kind of failure (see FlexErrorKind). */
  outcome: 'ok' | FlexErrorKind
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
  /** Sent as application/x-www-form-urlencoded. */
  form?: string
  /** A non-2xx status the call takes as an answer rather than a failure (404 for a remove). */
  alsoAccept?: number
}

interface FlexAnswer {
  status: number
  statusText: string
  retryAfter: string | null
  contentType: string
  body: string
}

/** What the services need of a Flex client. */
export type FlexPort = Pick<
  FlexClient,
  'listRows' | 'addResource' | 'setBusinessRole' | 'removeLine' | 'observed'
>

const segment = encodeURIComponent
const BODY_EXCERPT_LENGTH = 200

/**
 * The columns a list asks for: `codeList` selects columns, not row kinds. The contact column names the
 * booked resource, the business-role column its role; real callers ask for both (README, "Flex
 * compatibility").
 */
const LIST_COLUMNS = ['contact', 'business-role']

/** The add's form, as the newest public caller of real Flex sends it (a bare POST may be refused). */
const ADD_FORM = new URLSearchParams({
  resourceParentId: '',
  managedResourceLineItemType: 'contact',
  quantity: '1',
  parentLineItemId: '',
  nextSiblingId: '',
}).toString()

/**
 * The only code that speaks Flex's HTTP API. Every attempt is bounded by timeoutMs. Reads, role sets
 * and removes are idempotent and retried with jittered exponential backoff (Retry-After honored,
 * capped) on timeouts, network errors and 5xx; an add is never retried. An answer it does not
 * understand is a failure, never an answer: a redirect (not followed), an HTML page, a body that is not
 * JSON where JSON is due, and `{ "success": false }` on any call. Failures throw FlexError.
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

  /** The same client, also reporting every attempt to `onCall` (e.g. to count one sync's calls). */
  observed(onCall: (call: FlexCallInfo) => void): FlexClient {
    const outer = this.options.onCall
    return new FlexClient({
      ...this.options,
      onCall: (call) => {
        outer?.(call)
        onCall(call)
      },
    })
  }

  /**
   * Every row of the element as Flex has it now, containers' children included, read but not judged
   * (see classifyRows). `_dc` defeats caches between Flex and us, as Flex's own web client does.
   */
  listRows(flexElementId: string): Promise<FlexRow[]> {
    const query = new URLSearchParams({ _dc: String(Date.now()), node: 'root' })
    for (const column of LIST_COLUMNS) query.append('codeList', column)
    const request: FlexRequest = {
      endpoint: 'list',
      method: 'GET',
      path: `/line-item/${segment(flexElementId)}/row-data/?${query}`,
    }
    return withRetries(this.retryPolicy, (attempt) =>
      this.send(request, attempt, (answer) =>
        this.decode(request, attempt, answer, (json) => {
          const rows = readRows(json)
          return rows ? { ok: true, value: rows } : { ok: false, problem: 'the row data is not a list' }
        }),
      ),
    )
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
      form: ADD_FORM,
    }
    const lineItemId = await this.send(request, 1, (answer) =>
      answer.body.trim() === '' ? null : this.decode(request, 1, answer, parseAddedLineId),
    )
    return { lineItemId }
  }

  /** Sets the line's business role; setting it again is harmless. A line that is gone fails with 404. */
  async setBusinessRole(flexElementId: string, lineItemId: string, businessRoleId: string): Promise<void> {
    const request: FlexRequest = {
      endpoint: 'set-role',
      method: 'POST',
      path: `/line-item/${segment(flexElementId)}/row-data/`,
      json: { lineItemId, fieldType: 'business-role', payloadValue: businessRoleId },
    }
    await withRetries(this.retryPolicy, (attempt) => this.send(request, attempt, () => undefined))
  }

  /** Deletes a line; a line that no longer exists (404) counts as done. */
  async removeLine(lineItemId: string): Promise<'removed' | 'already-gone'> {
    const request: FlexRequest = {
      endpoint: 'remove',
      method: 'DELETE',
      path: `/line-item/${segment(lineItemId)}`,
      alsoAccept: 404,
    }
    return withRetries(this.retryPolicy, (attempt) =>
      this.send(request, attempt, (answer) => (answer.status === 404 ? 'already-gone' : 'removed')),
    )
  }

  /** One HTTP attempt: resolves with a 2xx (or the request's alsoAccept) answer, throws FlexError otherwise. */
  /**
   * One HTTP attempt, read by `read` when Flex's answer is one the call may read (a 2xx, or the
   * request's alsoAccept); throws FlexError otherwise. Reported to onCall once, with how it ended.
   */
  private async send<T>(request: FlexRequest, attempt: number, read: (answer: FlexAnswer) => T): Promise<T> {
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
      const failure = this.transportError(request, attempt, error)
      report(failure.kind)
      throw failure
    }
    try {
      const failure = this.failureIn(request, attempt, answer)
      if (failure) throw failure
      const value = read(answer)
      report('ok', answer.status)
      return value
    } catch (error) {
      report(error instanceof FlexError ? error.kind : 'bad-response', answer.status)
      throw error
    }
  }

  /** Why an answer is a failure, or undefined when the call may read it. */
  private failureIn(request: FlexRequest, attempt: number, answer: FlexAnswer): FlexError | undefined {
    const { status } = answer
    if (status === 401 || status === 403 || (status >= 300 && status < 400)) {
      const what = status < 400 ? `a redirect (HTTP ${status}), not followed` : `HTTP ${status}`
      return this.error(request, attempt, `${what}: the token was refused; check FLEX_AUTH_TOKEN`, {
        kind: 'unauthorized',
        status,
      })
    }
    if (status === 429) {
      const excerpt = this.excerpt(flexMessage(parseJson(answer.body)) ?? answer.body)
      return this.error(request, attempt, `HTTP 429, Flex's rate limit${excerpt ? `: ${excerpt}` : ''}`, {
        kind: 'rate-limited',
        status,
        retryAfterMs: parseRetryAfter(answer.retryAfter),
      })
    }
    const accepted = (status >= 200 && status < 300) || status === request.alsoAccept
    if (!accepted) return this.httpError(request, attempt, answer)
    if (isHtml(answer)) {
      return this.error(
        request,
        attempt,
        `an HTML page (HTTP ${status}) where JSON was due, most likely Flex's login page: check FLEX_AUTH_TOKEN`,
        { kind: 'unauthorized', status },
      )
    }
    const refusal = refusalIn(parseJson(answer.body))
    if (refusal !== undefined) {
      return this.error(request, attempt, `Flex refused it: success false, "${this.excerpt(refusal)}"`, {
        kind: 'rejected',
        status,
      })
    }
    return undefined
  }

  private async exchange({ method, path, json, form }: FlexRequest): Promise<FlexAnswer> {
    const body = json !== undefined ? JSON.stringify(json) : form
    const contentType =
      json !== undefined
        ? 'application/json'
        : form !== undefined
          ? 'application/x-www-form-urlencoded; charset=UTF-8'
          : undefined
    const response = await this.fetch(`${this.baseUrl}${path}`, {
      method,
      headers: {
        'X-Auth-Token': this.options.authToken,
        // Asks for an API answer (a 401) rather than a browser's redirect to the login page.
        'X-Requested-With': 'XMLHttpRequest',
        Accept: 'application/json',
        ...(contentType && { 'Content-Type': contentType }),
      },
      body,
      // A redirect is the login page on an expired token: never an answer to follow.
      redirect: 'manual',
      signal: AbortSignal.timeout(this.options.timeoutMs),
    })
    return {
      status: response.status,
      statusText: response.statusText,
      retryAfter: response.headers.get('retry-after'),
      contentType: response.headers.get('content-type') ?? '',
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
    const excerpt = this.excerpt(flexMessage(parseJson(answer.body)) ?? answer.body)
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

/** An HTML page: by its content type, or by its first character when the type is missing or wrong. */
function isHtml({ contentType, body }: FlexAnswer): boolean {
  return /\btext\/html\b/i.test(contentType) || /^\s*</.test(body)
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body)
  } catch {
    return undefined
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
