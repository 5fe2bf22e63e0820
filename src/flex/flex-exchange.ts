import { inSpan, type SpanScope, traceHeaders } from '../telemetry/tracing.ts'
import { AnswerTooLargeError, readBoundedText, readTextPrefix } from '../upstream/bounded-answer.ts'
import {
  type FlexEndpoint,
  FlexError,
  type FlexErrorDetails,
  type FlexErrorKind,
  isTimeout,
  networkReason,
} from './flex-errors.ts'
import {
  flexMessage,
  looksLikeHtml,
  type ParseResult,
  parseJsonOrUndefined,
  refusalIn,
} from './flex-responses.ts'
import { parseRetryAfter } from './retry.ts'

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

/** One Flex call as the client builds it. */
export interface FlexRequest {
  endpoint: FlexEndpoint
  method: 'GET' | 'POST' | 'DELETE'
  /** Below baseUrl, with every id segment encoded. */
  path: string
  /** The path with its ids as placeholders, e.g. /line-item/{elementId}/row-data/ (span names, attributes). */
  template: string
  json?: unknown
  /** Sent as application/x-www-form-urlencoded. */
  form?: string
  /** A non-2xx status the call takes as an answer rather than a failure (404 for a remove). */
  alsoAccept?: number
}

/** Flex's answer to one attempt, its body read whole (at most maxAnswerBytes of it). */
export interface FlexAnswer {
  status: number
  statusText: string
  retryAfter: string | null
  contentType: string
  body: string
}

export interface FlexExchangeOptions {
  baseUrl: string
  authToken: string
  timeoutMs: number
  /** The largest answer body read; a larger one fails the attempt as bad-response, unread past the bound. */
  maxAnswerBytes: number
  fetch: typeof fetch
  onCall?: (call: FlexCallInfo) => void
}

const BODY_EXCERPT_LENGTH = 200
/** What is read of an answer that is a failure anyway (an error page): enough for its message. */
const FAILURE_BODY_BYTES = 16 * 1024

/**
 * One HTTP attempt at a Flex call, and the judgement of its answer: an answer the call may read, or a
 * FlexError of the right kind. An answer Flex's callers could not understand is a failure, never an
 * answer: a redirect (not followed), an HTML page, a body that is not JSON where JSON is due, and
 * `{ "success": false }`. The auth token never reaches a message.
 */
export class FlexExchange {
  constructor(private readonly options: FlexExchangeOptions) {}

  /**
   * One HTTP attempt, read by `read` when Flex's answer is one the call may read (a 2xx, or the
   * request's alsoAccept); throws FlexError otherwise. Reported to onCall once, with how it ended.
   */
  send<T>(request: FlexRequest, attempt: number, read: (answer: FlexAnswer) => T): Promise<T> {
    // A client span per attempt (its traceparent goes to Flex): method, route template, status, outcome.
    return inSpan(
      `Flex ${request.method} ${request.template}`,
      {
        kind: 'client',
        attributes: {
          'http.request.method': request.method,
          'url.template': request.template,
          'server.address': new URL(this.options.baseUrl).hostname,
          'rostersync.flex.endpoint': request.endpoint,
          'rostersync.flex.attempt': attempt,
          // Every Flex call is made under a reservation the run took from the shared call budget first
          // (the run's span has the reservations as events); a run the budget refuses makes none.
          'rostersync.flex.call_budget': 'reserved',
        },
      },
      (span) => this.attempt(request, attempt, read, span),
    )
  }

  private async attempt<T>(
    request: FlexRequest,
    attempt: number,
    read: (answer: FlexAnswer) => T,
    span: SpanScope,
  ): Promise<T> {
    const started = performance.now()
    const report = (outcome: FlexCallInfo['outcome'], status?: number) => {
      span.setAttributes({ 'http.response.status_code': status, 'rostersync.flex.outcome': outcome })
      if (outcome !== 'ok') span.fail(outcome, `Flex ${request.endpoint}: ${outcome}`)
      this.options.onCall?.({
        endpoint: request.endpoint,
        outcome,
        status,
        attempt,
        durationMs: performance.now() - started,
      })
    }
    let answer: FlexAnswer
    try {
      answer = await this.fetchAnswer(request)
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
      const excerpt = this.excerpt(flexMessage(parseJsonOrUndefined(answer.body)) ?? answer.body)
      return this.error(request, attempt, `HTTP 429, Flex's rate limit${excerpt ? `: ${excerpt}` : ''}`, {
        kind: 'rate-limited',
        status,
        retryAfterMs: parseRetryAfter(answer.retryAfter),
      })
    }
    const accepted = (status >= 200 && status < 300) || status === request.alsoAccept
    if (!accepted) return this.httpError(request, attempt, answer)
    if (looksLikeHtml(answer.contentType, answer.body)) {
      return this.error(
        request,
        attempt,
        `an HTML page (HTTP ${status}) where JSON was due, most likely Flex's login page: check FLEX_AUTH_TOKEN`,
        { kind: 'unauthorized', status },
      )
    }
    // Only an object can be a refusal: a row list (the large answers) is not parsed twice.
    const refusal = /^\s*\{/.test(answer.body) ? refusalIn(parseJsonOrUndefined(answer.body)) : undefined
    if (refusal !== undefined) {
      return this.error(request, attempt, `Flex refused it: success false, "${this.excerpt(refusal)}"`, {
        kind: 'rejected',
        status,
      })
    }
    return undefined
  }

  private async fetchAnswer({ method, path, json, form, alsoAccept }: FlexRequest): Promise<FlexAnswer> {
    const body = json !== undefined ? JSON.stringify(json) : form
    const contentType =
      json !== undefined
        ? 'application/json'
        : form !== undefined
          ? 'application/x-www-form-urlencoded; charset=UTF-8'
          : undefined
    const response = await this.options.fetch(`${this.options.baseUrl}${path}`, {
      method,
      headers: {
        'X-Auth-Token': this.options.authToken,
        // Asks for an API answer (a 401) rather than a browser's redirect to the login page.
        'X-Requested-With': 'XMLHttpRequest',
        Accept: 'application/json',
        ...(contentType && { 'Content-Type': contentType }),
        ...traceHeaders(),
      },
      body,
      // A redirect is the login page on an expired token: never an answer to follow.
      redirect: 'manual',
      signal: AbortSignal.timeout(this.options.timeoutMs),
    })
    const { status } = response
    const readable = (status >= 200 && status < 300) || status === alsoAccept
    return {
      status,
      statusText: response.statusText,
      retryAfter: response.headers.get('retry-after'),
      contentType: response.headers.get('content-type') ?? '',
      // Streamed and counted: an answer of any size costs at most maxAnswerBytes to read, and a
      // failure (only its message is read) a few KB, the rest discarded.
      body: readable
        ? await readBoundedText(response, this.options.maxAnswerBytes)
        : (await readTextPrefix(response, FAILURE_BODY_BYTES)).text,
    }
  }

  decode<T>(
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
    if (error instanceof AnswerTooLargeError) {
      return this.error(
        request,
        attempt,
        `${error.message} (FLEX_MAX_ANSWER_BYTES); nothing was read past it`,
        {
          kind: 'bad-response',
        },
      )
    }
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
    const excerpt = this.excerpt(flexMessage(parseJsonOrUndefined(answer.body)) ?? answer.body)
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
