import type * as OtelApi from '@opentelemetry/api'

/**
 * The one door to OpenTelemetry for the rest of the code (services, the Flex client, the log mixin).
 * While tracing is off nothing of OpenTelemetry is loaded: these functions run the work as it is and
 * return nothing. ./start-tracing.ts, imported dynamically only when an OTLP endpoint is set, loads the
 * SDK and hands its API here. Only types are imported above (erased at build).
 */
let api: typeof OtelApi | undefined
let tracer: OtelApi.Tracer | undefined
let sqlComments: unknown[] = []

/** Called once by startTracing, after the SDK's provider is registered. */
export function activateTracing(otel: typeof OtelApi, version: string, prismaComments: unknown[]): void {
  api = otel
  tracer = otel.trace.getTracer('rostersync', version)
  sqlComments = prismaComments
}

export function tracingActive(): boolean {
  return api !== undefined
}

/** Prisma's SQL commenter plugins (the traceparent comment) when tracing is on; none otherwise. */
export function prismaCommentPlugins(): unknown[] {
  return sqlComments
}

export type SpanAttributes = Record<string, string | number | boolean | string[] | undefined>

export interface SpanOptions {
  kind?: 'internal' | 'client' | 'consumer'
  attributes?: SpanAttributes
  /** W3C traceparent values of the traces this work follows from (span links). */
  links?: (string | null | undefined)[]
  /** When the work began, if before the span could be started. */
  startTime?: Date
}

/** What work may say about its span; every method does nothing while tracing is off. */
export interface SpanScope {
  setAttributes(attributes: SpanAttributes): void
  addEvent(name: string, attributes?: SpanAttributes): void
  /** Marks the span failed (error status), with the error type and message. */
  fail(errorType: string, message: string): void
}

const NO_SPAN: SpanScope = {
  setAttributes() {},
  addEvent() {},
  fail() {},
}

/**
 * Runs `work` in a new span, child of the active one. A throw ends the span failed (error status, the
 * exception recorded) and is rethrown; `span.fail` marks it failed without a throw.
 */
export function inSpan<T>(
  name: string,
  options: SpanOptions,
  work: (span: SpanScope) => Promise<T>,
): Promise<T> {
  if (!api || !tracer) return work(NO_SPAN)
  const otel = api
  const links = (options.links ?? []).flatMap((traceparent) => {
    const context = traceparent ? spanContextOf(traceparent) : undefined
    return context ? [{ context }] : []
  })
  const kind = {
    internal: otel.SpanKind.INTERNAL,
    client: otel.SpanKind.CLIENT,
    consumer: otel.SpanKind.CONSUMER,
  }[options.kind ?? 'internal']
  return tracer.startActiveSpan(
    name,
    { kind, attributes: defined(options.attributes), links, startTime: options.startTime },
    async (span) => {
      let failed = false
      const scope: SpanScope = {
        setAttributes: (attributes) => span.setAttributes(defined(attributes)),
        addEvent: (eventName, attributes) => span.addEvent(eventName, defined(attributes)),
        fail: (errorType, message) => {
          failed = true
          span.setAttribute('error.type', errorType)
          span.setStatus({ code: otel.SpanStatusCode.ERROR, message })
        },
      }
      try {
        return await work(scope)
      } catch (error) {
        if (!failed) {
          const message = error instanceof Error ? error.message : String(error)
          span.setStatus({ code: otel.SpanStatusCode.ERROR, message })
          span.setAttribute('error.type', error instanceof Error ? error.name : 'unknown')
        }
        if (error instanceof Error) span.recordException(error)
        throw error
      } finally {
        span.end()
      }
    },
  )
}

/** An event on the active span (e.g. a reservation from the Flex call budget); nothing while off. */
export function spanEvent(name: string, attributes: SpanAttributes): void {
  api?.trace.getActiveSpan()?.addEvent(name, defined(attributes))
}

/** The active span's ids for a log line (`trace_id`, `span_id`); undefined outside a traced span. */
export function traceIdsForLog(): { trace_id: string; span_id: string } | undefined {
  const context = api?.trace.getActiveSpan()?.spanContext()
  if (!context || !api?.isSpanContextValid(context)) return undefined
  return { trace_id: context.traceId, span_id: context.spanId }
}

/** The headers that carry the active trace to another service (`traceparent`); none while off. */
export function traceHeaders(): Record<string, string> {
  if (!api) return {}
  const carrier: Record<string, string> = {}
  api.propagation.inject(api.context.active(), carrier)
  return carrier
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

function spanContextOf(traceparent: string): OtelApi.SpanContext | undefined {
  const match = TRACEPARENT.exec(traceparent)
  if (!match || !api) return undefined
  const [, traceId = '', spanId = '', flags = '00'] = match
  const context = { traceId, spanId, traceFlags: Number.parseInt(flags, 16), isRemote: true }
  return api.isSpanContextValid(context) ? context : undefined
}

function defined(attributes: SpanAttributes | undefined): OtelApi.Attributes {
  const result: OtelApi.Attributes = {}
  for (const [key, value] of Object.entries(attributes ?? {})) if (value !== undefined) result[key] = value
  return result
}
