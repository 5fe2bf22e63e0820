import type { Sampler } from '@opentelemetry/sdk-trace-node'
import { packageInfo } from '../package-info.ts'
import { activateTracing } from './tracing.ts'

/** What src/config.ts's tracingSettings gives: where and how to export, and what to sample. */
export interface TracingSettings {
  tracesUrl: string
  protocol: 'http/protobuf' | 'http/json'
  headers: Record<string, string>
  serviceName: string
  resourceAttributes: Record<string, string>
  sampler:
    | 'always_on'
    | 'always_off'
    | 'traceidratio'
    | 'parentbased_always_on'
    | 'parentbased_always_off'
    | 'parentbased_traceidratio'
  samplerRatio: number
}

export interface TracingHandle {
  /** Exports every finished span now (tests; the shutdown). */
  flush(): Promise<void>
  /** Exports what is left and stops. */
  shutdown(): Promise<void>
}

/**
 * Starts OpenTelemetry tracing: the SDK's tracer provider (W3C traceparent propagation, batched OTLP/HTTP
 * export), @fastify/otel (a server span per request, subscribed to Fastify's initialization channel, so
 * it must start before buildApp), Prisma's instrumentation (a span per SQL statement) and Prisma's SQL
 * commenter (the traceparent as a comment on every statement). Everything is imported here, dynamically:
 * src/server.ts imports this module only when an OTLP endpoint is set, so with tracing off none of it
 * is loaded. Call once per process.
 */
export async function startTracing(settings: TracingSettings): Promise<TracingHandle> {
  const [api, sdk, resources, exporterModule, fastifyOtel, prismaInstrumentation, sqlCommenter] =
    await Promise.all([
      import('@opentelemetry/api'),
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/resources'),
      settings.protocol === 'http/json'
        ? import('@opentelemetry/exporter-trace-otlp-http')
        : import('@opentelemetry/exporter-trace-otlp-proto'),
      import('@fastify/otel'),
      import('@prisma/instrumentation'),
      import('@prisma/sqlcommenter-trace-context'),
    ])
  const exporter = new exporterModule.OTLPTraceExporter({
    url: settings.tracesUrl,
    headers: settings.headers,
  })
  const provider = new sdk.NodeTracerProvider({
    resource: resources.resourceFromAttributes({
      ...settings.resourceAttributes,
      'service.name': settings.serviceName,
      'service.version': packageInfo.version,
    }),
    sampler: new LoneQuerySampler(api, configuredSampler(sdk, settings)),
    spanProcessors: [new sdk.BatchSpanProcessor(exporter)],
  })
  // Registers the provider and the W3C trace context propagator (traceparent in and out).
  provider.register()
  new fastifyOtel.default.FastifyOtelInstrumentation({
    registerOnInitialization: true,
    // One server span per request (plus the handler's); a span per lifecycle hook would cost more
    // than it tells.
    instrumentHooks: false,
    // Probes and scrapes every second would bury the traces that matter.
    ignorePaths: (route) => /^\/(health|metrics)\b/.test(route.url),
    requestHook: (span, request) => {
      span.updateName(`${request.method} ${request.routeOptions.url ?? 'unknown route'}`)
      span.setAttribute('http.request.id', request.id)
    },
  }).setTracerProvider(provider)
  new prismaInstrumentation.PrismaInstrumentation({
    // The statements are what matters: a span per statement, below the handler's span. Prisma's
    // operation (one per client call, around its statements), serialization and connection spans would
    // add a quarter more spans to a calendar PUT and say little more (bench/tracing-bench.ts).
    ignoreSpanTypes: ['prisma:client:operation', 'prisma:client:serialize', 'prisma:client:connect'],
  }).setTracerProvider(provider)
  activateTracing(api, packageInfo.version, [sqlCommenter.traceContext()])
  return {
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  }
}

type Sdk = typeof import('@opentelemetry/sdk-trace-node')

/** OTEL_TRACES_SAMPLER and its ratio, as the OpenTelemetry specification defines them. */
function configuredSampler(sdk: Sdk, settings: TracingSettings): Sampler {
  const ratio = new sdk.TraceIdRatioBasedSampler(settings.samplerRatio)
  switch (settings.sampler) {
    case 'always_on':
      return new sdk.AlwaysOnSampler()
    case 'always_off':
      return new sdk.AlwaysOffSampler()
    case 'traceidratio':
      return ratio
    case 'parentbased_always_on':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() })
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() })
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: ratio })
  }
}

type SamplerArgs = Parameters<Sampler['shouldSample']>

/**
 * Drops Prisma spans that belong to no trace: the workers' polls, the purge and pruning timers run
 * queries every second outside any request or run, and each would otherwise be a trace of its own.
 */
class LoneQuerySampler implements Sampler {
  constructor(
    private readonly otel: typeof import('@opentelemetry/api'),
    private readonly inner: Sampler,
  ) {}

  shouldSample(
    context: SamplerArgs[0],
    traceId: SamplerArgs[1],
    spanName: SamplerArgs[2],
    spanKind: SamplerArgs[3],
    attributes: SamplerArgs[4],
    links: SamplerArgs[5],
  ): ReturnType<Sampler['shouldSample']> {
    // decision 0: SamplingDecision.NOT_RECORD
    if (spanName.startsWith('prisma:') && !this.otel.trace.getSpanContext(context)) return { decision: 0 }
    return this.inner.shouldSample(context, traceId, spanName, spanKind, attributes, links)
  }

  toString(): string {
    return `LoneQuerySampler{${this.inner.toString()}}`
  }
}
