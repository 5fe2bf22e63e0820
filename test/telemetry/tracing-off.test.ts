import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { loadConfig, tracingSettings } from '../../src/config.ts'
import { traceHeaders, traceIdsForLog, tracingActive } from '../../src/telemetry/tracing.ts'
import { build } from '../helpers/build-app.ts'

/**
 * Tracing off loads nothing of OpenTelemetry: only src/telemetry/start-tracing.ts imports its packages
 * (the rest of src/ imports their types at most, erased at build), and src/server.ts imports that file
 * dynamically, only when an OTLP endpoint is set. docs/operations.md has what that saves at start.
 */
const TRACING_PACKAGES =
  /from '(@opentelemetry\/[^']+|@fastify\/otel|@prisma\/instrumentation|@prisma\/sqlcommenter[^']*)'/

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === 'generated' ? [] : sourceFiles(path)
    return path.endsWith('.ts') ? [path] : []
  })
}

test('only start-tracing.ts loads OpenTelemetry, and only server.ts imports it, dynamically', async (t) => {
  for (const file of sourceFiles('src')) {
    const text = readFileSync(file, 'utf8')
    const loads = text
      .split('\n')
      .filter((line) => TRACING_PACKAGES.test(line) && !/^import type /.test(line))
    if (file !== join('src', 'telemetry', 'start-tracing.ts'))
      t.same(loads, [], `${file} loads no tracing package`)
    const importsStart = text
      .split('\n')
      .filter(
        (line) => line.includes("'./telemetry/start-tracing.ts'") || line.includes("/start-tracing.ts'"),
      )
    if (file === join('src', 'server.ts'))
      t.ok(
        importsStart.length === 1 && importsStart[0]?.includes('await import('),
        'server.ts imports it dynamically',
      )
    else if (file !== join('src', 'telemetry', 'start-tracing.ts'))
      t.same(importsStart, [], `${file} does not import it`)
  }
})

test('off unless an OTLP endpoint is set; the traces endpoint wins, the base one gets /v1/traces', async (t) => {
  t.equal(tracingSettings(loadConfig({})), undefined)
  t.match(tracingSettings(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })), {
    tracesUrl: 'http://collector:4318/v1/traces',
    protocol: 'http/protobuf',
    serviceName: 'rostersync',
    sampler: 'parentbased_always_on',
  })
  t.match(
    tracingSettings(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example/otlp/v1/traces',
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_HEADERS: 'x-scope-orgid=team%20a, authorization=Bearer%20abc',
        OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
        OTEL_SERVICE_NAME: 'rostersync-eu',
      }),
    ),
    {
      tracesUrl: 'https://tempo.example/otlp/v1/traces',
      protocol: 'http/json',
      headers: { 'x-scope-orgid': 'team a', authorization: 'Bearer abc' },
      resourceAttributes: { 'deployment.environment.name': 'prod' },
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
      serviceName: 'rostersync-eu',
    },
  )
})

test('invalid OTEL settings are refused at start, by name', async (t) => {
  t.throws(
    () => loadConfig({ OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }),
    /OTEL_EXPORTER_OTLP_PROTOCOL: .*gRPC is not supported/,
  )
  t.throws(() => loadConfig({ OTEL_TRACES_SAMPLER: 'sometimes' }), /OTEL_TRACES_SAMPLER/)
  t.throws(() => loadConfig({ OTEL_TRACES_SAMPLER_ARG: '2' }), /OTEL_TRACES_SAMPLER_ARG/)
  t.throws(
    () => loadConfig({ OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }),
    /OTEL_EXPORTER_OTLP_HEADERS: entry 1 is not key=value/,
  )
  t.throws(() => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT/)
})

test('with tracing off the app runs untraced: no ids in the log, no traceparent sent', async (t) => {
  await build(t)
  t.equal(tracingActive(), false)
  t.equal(traceIdsForLog(), undefined)
  t.same(traceHeaders(), {})
})
