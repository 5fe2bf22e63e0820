import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import type { FlexEndpoint } from '../../src/flex/flex-errors.ts'
import { type Fault, FaultQueue, type LoseHow } from './fake-flex/faults.ts'
import { type FakeAnswer, perform } from './fake-flex/handlers.ts'
import { matchRoute, type Route } from './fake-flex/routes.ts'
import { FakeFlexState, type FakeLine, type OtherRow } from './fake-flex/state.ts'
import { streamRows } from './fake-flex/stream.ts'
import { defaultShape, type ResponseShape } from './fake-flex/wire.ts'

export type { FakeLine, OtherRow } from './fake-flex/state.ts'
export type { AddResponseShape, ResponseShape } from './fake-flex/wire.ts'

export interface FakeFlexOptions {
  /** The X-Auth-Token every call must carry (default 'test-token'); anything else is answered 401. */
  token?: string
  /** 0 (the default) picks a free port. */
  port?: number
  /** Added before every answer. */
  latencyMs?: number
  shape?: Partial<ResponseShape>
  /** Line ids: 'uuid' as real Flex's (the default), or 'numeric' (all digits). */
  lineIds?: 'uuid' | 'numeric'
  /** Called when a call ends: answered, dropped, or abandoned by the client. */
  onCall?: (call: FakeCall) => void
}

export interface FakeCall {
  method: string
  /** Path and query as received. */
  path: string
  endpoint: FlexEndpoint | 'unknown'
  /** The X-Auth-Token header as received. */
  authToken: string | undefined
  /** The W3C traceparent header as received (the caller's trace), when there was one. */
  traceparent: string | undefined
  /** The request body: parsed JSON, the text when it is not JSON, undefined when empty. */
  body: unknown
  /** null when no answer was sent (a hang, a dropped connection, a client that gave up first). */
  status: number | null
  /** performance.now() when the request arrived. */
  startedAt: number
  /** performance.now() when the answer was sent or the connection closed; null while in flight. */
  endedAt: number | null
}

export interface Flakiness {
  /** Probability that a call fails with 503 without being performed. */
  errorRate: number
  /** Probability that a performed add loses its answer. */
  loseAddRate?: number
  /** In [0, 1); Math.random by default. */
  random?: () => number
}

export interface AnswerOptions {
  status: number
  /** Sent as JSON; a string is sent as it is. */
  body?: unknown
  headers?: Record<string, string>
  /** How many calls get this answer (default 1). */
  times?: number
  /** Wait before answering. */
  afterMs?: number
}

export interface FailOptions extends Omit<AnswerOptions, 'headers'> {
  /** Sent as the Retry-After header. */
  retryAfter?: string
}

const API_ROOT = '/f5/api'

/** A Flex API on 127.0.0.1 with in-memory crew lines and injectable faults; close() it at teardown. */
export function startFakeFlex(options: FakeFlexOptions = {}): Promise<FakeFlex> {
  return FakeFlex.start(options)
}

/**
 * Speaks the four Flex calls the client makes (see src/flex/flex-client.ts). Faults queued with
 * answer/fail/hang/loseAddResponse apply to the next calls of their endpoint, in order; a call with
 * no pending fault is performed on the in-memory state.
 */
export class FakeFlex {
  readonly token: string
  /** Every request received, in arrival order. */
  readonly calls: FakeCall[] = []
  /**
   * Adds performed for a resource that already had a line on the element: duplicates a client made
   * (lines booked twice by hand with addLineByHand are not counted).
   */
  readonly duplicateAdds: { elementId: string; resourceId: string; existingLineId: string }[] = []
  latencyMs: number
  /** How answers are shaped; change it freely, reset() restores the starting one. */
  shape: ResponseShape
  private readonly server: Server
  private readonly state: FakeFlexState
  private readonly faults = new FaultQueue()
  private readonly brokenElements = new Map<string, Fault>()
  private inFlight = 0
  private highestInFlight = 0
  private flakiness: Flakiness | undefined

  static async start(options: FakeFlexOptions): Promise<FakeFlex> {
    const fake = new FakeFlex(options)
    fake.server.listen(options.port ?? 0, '127.0.0.1')
    await once(fake.server, 'listening') // rejects on 'error', e.g. a port in use
    return fake
  }

  private constructor(private readonly options: FakeFlexOptions) {
    this.token = options.token ?? 'test-token'
    this.latencyMs = options.latencyMs ?? 0
    this.shape = { ...defaultShape, ...options.shape }
    this.state = new FakeFlexState(options.lineIds)
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => this.respond(res, undefined, fakeBug(error)))
    })
  }

  /** The value for FLEX_BASE_URL. */
  get url(): string {
    const { port } = this.server.address() as AddressInfo
    return `http://127.0.0.1:${port}${API_ROOT}`
  }

  /** The most requests ever being processed at once (latency and hangs included). */
  get maxInFlight(): number {
    return this.highestInFlight
  }

  /** The element's crew lines, in the order they were added. */
  lines(elementId: string): FakeLine[] {
    return this.state.lines(elementId)
  }

  /** Someone books a technician by hand in Flex; returns the new line's id. */
  addLineByHand(elementId: string, resourceId: string, businessRoleId: string | null = null): string {
    return this.state.addLine(elementId, resourceId, businessRoleId).id
  }

  /** Someone deletes a line by hand in Flex; false when it did not exist. */
  deleteLineByHand(lineItemId: string): boolean {
    return this.state.removeLine(lineItemId)
  }

  /** A row of another kind (equipment, ...), or of a shape nobody has seen, listed exactly as given. */
  addRawRow(elementId: string, row: OtherRow): void {
    this.state.addOtherRow(elementId, row)
  }

  /** The next `times` calls to `endpoint` get Flex's login page (an expired token), with `status`. */
  answerLoginPage(endpoint: FlexEndpoint, { status = 200, times = 1 } = {}): void {
    this.answer(endpoint, {
      status,
      body: fixture('login-page.html'),
      headers: { 'content-type': 'text/html;charset=UTF-8' },
      times,
    })
  }

  /** The next `times` calls to `endpoint` are redirected to the login page (an expired token). */
  redirectToLogin(endpoint: FlexEndpoint, times = 1): void {
    this.answer(endpoint, {
      status: 302,
      headers: { location: `${API_ROOT.replace(/\/api$/, '')}/login` },
      times,
    })
  }

  /** The next `times` calls to `endpoint` are refused with 200 `{ "success": false, ... }`, and not performed. */
  refuse(endpoint: FlexEndpoint, times = 1): void {
    this.answer(endpoint, { status: 200, body: JSON.parse(fixture('refused.json')), times })
  }

  /** The next `times` calls to `endpoint` get this answer instead of being performed. */
  answer(
    endpoint: FlexEndpoint,
    { status, body, headers = {}, times = 1, afterMs = 0 }: AnswerOptions,
  ): void {
    this.faults.push(endpoint, { kind: 'answer', status, body, headers, afterMs }, times)
  }

  /** The next `times` calls to `endpoint` fail with `status` and are not performed. */
  fail(endpoint: FlexEndpoint, { retryAfter, body, ...rest }: FailOptions): void {
    this.answer(endpoint, {
      ...rest,
      body: body ?? { message: `injected failure ${rest.status}` },
      headers: retryAfter === undefined ? {} : { 'retry-after': retryAfter },
    })
  }

  /** The next `times` calls to `endpoint` are never answered nor performed, until the client gives up. */
  hang(endpoint: FlexEndpoint, times = 1): void {
    this.faults.push(endpoint, { kind: 'hang' }, times)
  }

  /**
   * The next `times` lists are answered 200 with a row-data list of about `bytes` (200,000 rows are
   * 32 MB), or, with bytes undefined, one streamed without end until the client closes the
   * connection: a misconfigured element, a proxy's error page, a hostile endpoint.
   */
  streamList({ bytes, times = 1 }: { bytes?: number; times?: number }): void {
    this.faults.push('list', { kind: 'stream', bytes }, times)
  }

  /**
   * Every list of this one element, until reset() or clearFaults(): streamed as streamList does
   * (`{ stream: bytes }`, undefined bytes for no end), or never answered (`'hang'`). Other elements
   * are answered as usual.
   */
  breakElement(elementId: string, how: { stream: number | undefined } | 'hang'): void {
    this.brokenElements.set(
      elementId,
      how === 'hang' ? { kind: 'hang' } : { kind: 'stream', bytes: how.stream },
    )
  }

  /** Bytes the streamed lists (streamList) wrote before they ended or their client left, in order. */
  readonly streamedBytes: number[] = []

  /**
   * The next `times` adds wait `afterMs` before they create their line (and answer): a client whose
   * timeout is shorter gives up first, and a listing meanwhile shows no line. A busy Flex does this.
   */
  landAddLate(afterMs: number, times = 1): void {
    this.faults.push('add', { kind: 'land-late', afterMs }, times)
  }

  /**
   * The next `times` adds create their line, then the caller never learns its id: the connection is
   * dropped ('drop'), answered 500 ('error'), or never answered ('hang').
   */
  loseAddResponse(times = 1, how: LoseHow = 'drop'): void {
    this.faults.push('add', { kind: 'lose-answer', how }, times)
  }

  /**
   * From now on, each call fails with 503 (not performed) with probability errorRate, and each add
   * that is performed loses its answer (dropped connection) with probability loseAddRate; queued
   * faults come first. clearFaults() ends it.
   */
  setFlakiness(flakiness: Flakiness): void {
    this.flakiness = flakiness
  }

  /** Drops every pending fault (answer, fail, hang, loseAddResponse) and any flakiness; lines and calls stay. */
  clearFaults(): void {
    this.faults.clear()
    this.brokenElements.clear()
    this.flakiness = undefined
  }

  /** Back to the starting options with no lines, faults or calls. Line ids are never reused. */
  reset(): void {
    this.state.clear()
    this.faults.clear()
    this.brokenElements.clear()
    this.flakiness = undefined
    this.calls.length = 0
    this.duplicateAdds.length = 0
    this.streamedBytes.length = 0
    this.highestInFlight = this.inFlight
    this.latencyMs = this.options.latencyMs ?? 0
    this.shape = { ...defaultShape, ...this.options.shape }
  }

  /** Stops listening and cuts every open connection, hung ones included. */
  async close(): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>((resolve, reject) =>
      this.server.close((error) => (error ? reject(error) : resolve())),
    )
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake-flex')
    const route = matchRoute(req.method ?? '', url, API_ROOT)
    const token = req.headers['x-auth-token']
    const traceparent = req.headers.traceparent
    const call: FakeCall = {
      method: req.method ?? '',
      path: req.url ?? '',
      endpoint: route?.endpoint ?? 'unknown',
      authToken: typeof token === 'string' ? token : undefined,
      traceparent: typeof traceparent === 'string' ? traceparent : undefined,
      body: undefined,
      status: null,
      startedAt: performance.now(),
      endedAt: null,
    }
    this.track(call, res)
    call.body = await readBody(req)
    if (this.latencyMs > 0) await delay(this.latencyMs)

    if (call.authToken !== this.token) {
      return this.respond(res, call, { status: 401, body: { message: 'missing or invalid X-Auth-Token' } })
    }
    if (!route) return this.respond(res, call, { status: 404, body: { message: 'no such endpoint' } })
    const fault =
      (route.endpoint === 'list' ? this.brokenElements.get(route.elementId) : undefined) ??
      this.faults.take(route.endpoint) ??
      this.randomFault(route.endpoint)
    if (!fault) return this.respond(res, call, this.perform(route, call.body))
    switch (fault.kind) {
      case 'answer':
        await delay(fault.afterMs)
        return this.respond(res, call, fault)
      case 'hang':
        return
      case 'stream':
        call.status = 200
        this.streamedBytes.push(await streamRows(res, fault))
        return
      case 'land-late':
        await delay(fault.afterMs)
        return this.respond(res, call, this.perform(route, call.body))
      case 'lose-answer':
        this.perform(route, call.body)
        if (fault.how === 'drop') res.socket?.destroy()
        if (fault.how === 'error')
          this.respond(res, call, { status: 500, body: { message: 'internal error' } })
        return
    }
  }

  private randomFault(endpoint: FlexEndpoint): Fault | undefined {
    const flaky = this.flakiness
    if (!flaky) return undefined
    const random = flaky.random ?? Math.random
    if (random() < flaky.errorRate)
      return { kind: 'answer', status: 503, body: { message: 'flaky' }, headers: {}, afterMs: 0 }
    if (endpoint === 'add' && random() < (flaky.loseAddRate ?? 0)) return { kind: 'lose-answer', how: 'drop' }
    return undefined
  }

  private perform(route: Route, body: unknown): FakeAnswer {
    if (route.endpoint === 'add') {
      const existing = this.state.lines(route.elementId).find((line) => line.resourceId === route.resourceId)
      if (existing) {
        const { elementId, resourceId } = route
        this.duplicateAdds.push({ elementId, resourceId, existingLineId: existing.id })
      }
    }
    return perform(route, body, this.state, this.shape)
  }

  private track(call: FakeCall, res: ServerResponse): void {
    this.calls.push(call)
    this.inFlight++
    this.highestInFlight = Math.max(this.highestInFlight, this.inFlight)
    res.once('close', () => {
      this.inFlight--
      call.endedAt = performance.now()
      this.options.onCall?.(call)
    })
  }

  private respond(
    res: ServerResponse,
    call: FakeCall | undefined,
    { status, body, headers }: FakeAnswer,
  ): void {
    if (res.destroyed || res.headersSent) return // the client gave up, or this call was answered already
    if (call) call.status = status
    const text = body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body)
    res.writeHead(status, { ...(text && { 'content-type': 'application/json' }), ...headers })
    res.end(text)
  }
}

/** A recorded answer from test/fixtures/flex (see its README for where each shape comes from). */
export function fixture(name: string): string {
  return readFileSync(new URL(`../fixtures/flex/${name}`, import.meta.url), 'utf8')
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const text = Buffer.concat(chunks).toString('utf8')
  if (text === '') return undefined
  try {
    return JSON.parse(text)
  } catch {
    return text
  }
}

/** A bug in the fake itself: answered 500 with a message that says so. */
function fakeBug(error: unknown): FakeAnswer {
  return {
    status: 500,
    body: { message: `fake Flex bug: ${error instanceof Error ? error.message : error}` },
  }
}
