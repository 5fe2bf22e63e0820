import { setTimeout as delay } from 'node:timers/promises'
import { type FlexCallInfo, FlexExchange, type FlexRequest } from './flex-exchange.ts'
import { parseAddedLineId } from './flex-responses.ts'
import { type FlexRow, readRows } from './flex-rows.ts'
import { type RetryPolicy, withRetries } from './retry.ts'

export type { FlexCallInfo } from './flex-exchange.ts'

export interface FlexClientOptions {
  /** Flex's API root, e.g. https://<tenant>.flexrentalsolutions.com/f5/api */
  baseUrl: string
  /** Sent as X-Auth-Token on every call; never written into an error. */
  authToken: string
  /** Upper bound on one HTTP attempt, reading the body included. */
  timeoutMs: number
  /**
   * The largest answer body read (default 4 MiB); past it the read stops and the call fails as
   * bad-response. Flex's answers are streamed and counted, never buffered whole first.
   */
  maxAnswerBytes?: number
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

/** What the services need of a Flex client. */
export type FlexPort = Pick<
  FlexClient,
  'listRows' | 'addResource' | 'setBusinessRole' | 'removeLine' | 'observed'
>

const segment = encodeURIComponent

/** FLEX_MAX_ANSWER_BYTES's default (docs/operations.md, "Memory"). */
const DEFAULT_MAX_ANSWER_BYTES = 4 * 1024 * 1024

/**
 * The columns a list asks for: `codeList` selects columns, not row kinds. The contact column names the
 * booked resource, the business-role column its role; real callers ask for both (docs/operations.md, "Flex
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
 * The only code that speaks Flex's HTTP API: the four calls rostersync makes, each attempt made and
 * judged by FlexExchange (./flex-exchange.ts). Reads, role sets and removes are idempotent and retried
 * with jittered exponential backoff (Retry-After honored, capped) on timeouts, network errors and
 * 5xx; an add is never retried. Failures throw FlexError.
 */
export class FlexClient {
  private readonly exchange: FlexExchange
  private readonly retryPolicy: RetryPolicy

  constructor(private readonly options: FlexClientOptions) {
    if (!options.authToken) throw new Error('FlexClient needs an auth token')
    this.exchange = new FlexExchange({
      baseUrl: options.baseUrl.replace(/\/+$/, ''),
      authToken: options.authToken,
      timeoutMs: options.timeoutMs,
      maxAnswerBytes: options.maxAnswerBytes ?? DEFAULT_MAX_ANSWER_BYTES,
      fetch: options.fetch ?? globalThis.fetch,
      onCall: options.onCall,
    })
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
      template: '/line-item/{elementId}/row-data/',
    }
    return withRetries(this.retryPolicy, (attempt) =>
      this.exchange.send(request, attempt, (answer) =>
        this.exchange.decode(request, attempt, answer, (json) => {
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
      template: '/line-item/{elementId}/add-resource/{resourceId}',
      form: ADD_FORM,
    }
    const lineItemId = await this.exchange.send(request, 1, (answer) =>
      answer.body.trim() === '' ? null : this.exchange.decode(request, 1, answer, parseAddedLineId),
    )
    return { lineItemId }
  }

  /** Sets the line's business role; setting it again is harmless. A line that is gone fails with 404. */
  async setBusinessRole(flexElementId: string, lineItemId: string, businessRoleId: string): Promise<void> {
    const request: FlexRequest = {
      endpoint: 'set-role',
      method: 'POST',
      path: `/line-item/${segment(flexElementId)}/row-data/`,
      template: '/line-item/{elementId}/row-data/',
      json: { lineItemId, fieldType: 'business-role', payloadValue: businessRoleId },
    }
    await withRetries(this.retryPolicy, (attempt) => this.exchange.send(request, attempt, () => undefined))
  }

  /** Deletes a line; a line that no longer exists (404) counts as done. */
  async removeLine(lineItemId: string): Promise<'removed' | 'already-gone'> {
    const request: FlexRequest = {
      endpoint: 'remove',
      method: 'DELETE',
      path: `/line-item/${segment(lineItemId)}`,
      template: '/line-item/{lineItemId}',
      alsoAccept: 404,
    }
    return withRetries(this.retryPolicy, (attempt) =>
      this.exchange.send(request, attempt, (answer) => (answer.status === 404 ? 'already-gone' : 'removed')),
    )
  }
}
