import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'

/** A span as the receiver got it over OTLP/HTTP JSON, its attributes flattened to plain values. */
export interface ReceivedSpan {
  traceId: string
  spanId: string
  parentSpanId: string | undefined
  name: string
  /** OTLP's SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number
  attributes: Record<string, unknown>
  /** OTLP's status code: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string }
  links: { traceId: string; spanId: string }[]
  events: { name: string; attributes: Record<string, unknown> }[]
  resource: Record<string, unknown>
}

/** One export request as it arrived. */
export interface ReceivedExport {
  path: string
  contentType: string
  headers: Record<string, string | string[] | undefined>
  bytes: number
}

interface OtlpValue {
  stringValue?: string
  intValue?: string | number
  doubleValue?: number
  boolValue?: boolean
  arrayValue?: { values?: OtlpValue[] }
}
interface OtlpKeyValue {
  key: string
  value: OtlpValue
}
interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes?: OtlpKeyValue[]
  status?: { code?: number; message?: string }
  links?: { traceId: string; spanId: string }[]
  events?: { name: string; attributes?: OtlpKeyValue[] }[]
}
interface OtlpExport {
  resourceSpans?: {
    resource?: { attributes?: OtlpKeyValue[] }
    scopeSpans?: { spans?: OtlpSpan[] }[]
  }[]
}

/**
 * An OpenTelemetry collector's OTLP/HTTP traces endpoint on 127.0.0.1: a real HTTP server. It answers
 * every POST 200 with an empty export response, keeps what each request was (path, content type,
 * headers, size) and decodes the JSON ones (http/json) into spans. Protobuf bodies are counted, not
 * decoded.
 */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = []
  readonly exports: ReceivedExport[] = []

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer()
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    const { port } = server.address() as AddressInfo
    const receiver = new OtlpReceiver(server, `http://127.0.0.1:${port}`)
    server.on('request', (req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (chunk: Buffer) => chunks.push(chunk))
      req.on('end', () => {
        const body = Buffer.concat(chunks)
        const contentType = req.headers['content-type'] ?? ''
        receiver.exports.push({ path: req.url ?? '', contentType, headers: req.headers, bytes: body.length })
        if (contentType.startsWith('application/json')) receiver.take(JSON.parse(body.toString('utf8')))
        res.writeHead(200, { 'content-type': contentType || 'application/json' })
        res.end(contentType.startsWith('application/json') ? '{}' : '')
      })
    })
    return receiver
  }

  /** The spans of one trace. */
  trace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId)
  }

  /** Waits (up to timeoutMs) until a span matches, then returns it; throws naming what was received. */
  async waitFor(match: (span: ReceivedSpan) => boolean, timeoutMs = 10_000): Promise<ReceivedSpan> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.spans.find(match)
      if (found) return found
      if (Date.now() > deadline)
        throw new Error(
          `no matching span within ${timeoutMs} ms; received: ${this.spans.map((s) => s.name).join(', ')}`,
        )
      await delay(50)
    }
  }

  /**
   * Waits (up to timeoutMs) until `spans` of what was received satisfy `done`; returns them. Exports may
   * arrive out of order (a timed batch and a flush in flight at once), so tests wait, not assume.
   */
  async waitUntil(
    select: (spans: ReceivedSpan[]) => ReceivedSpan[],
    done: (selected: ReceivedSpan[]) => boolean,
    timeoutMs = 10_000,
  ): Promise<ReceivedSpan[]> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const selected = select(this.spans)
      if (done(selected) || Date.now() > deadline) return selected
      await delay(50)
    }
  }

  async close(): Promise<void> {
    this.server.closeAllConnections()
    this.server.close()
    await once(this.server, 'close')
  }

  private take(body: OtlpExport): void {
    for (const resourceSpans of body.resourceSpans ?? []) {
      const resource = flatten(resourceSpans.resource?.attributes)
      for (const scope of resourceSpans.scopeSpans ?? []) {
        for (const span of scope.spans ?? []) {
          this.spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId || undefined,
            name: span.name,
            kind: span.kind,
            attributes: flatten(span.attributes),
            status: { code: span.status?.code ?? 0, message: span.status?.message },
            links: (span.links ?? []).map((link) => ({ traceId: link.traceId, spanId: link.spanId })),
            events: (span.events ?? []).map((event) => ({
              name: event.name,
              attributes: flatten(event.attributes),
            })),
            resource,
          })
        }
      }
    }
  }
}

function flatten(attributes: OtlpKeyValue[] | undefined): Record<string, unknown> {
  return Object.fromEntries((attributes ?? []).map(({ key, value }) => [key, plain(value)]))
}

function plain(value: OtlpValue): unknown {
  if (value.stringValue !== undefined) return value.stringValue
  if (value.intValue !== undefined) return Number(value.intValue)
  if (value.doubleValue !== undefined) return value.doubleValue
  if (value.boolValue !== undefined) return value.boolValue
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(plain)
  return undefined
}
