import { test } from 'tap'
import { startTracing } from '../../src/telemetry/start-tracing.ts'
import { build } from '../helpers/build-app.ts'
import { OtlpReceiver } from '../helpers/otlp-receiver.ts'

/** OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf (the specification's default, and ours): a process of its own. */
test('http/protobuf: spans are exported as protobuf to the traces URL, with the configured headers', async (t) => {
  const receiver = await OtlpReceiver.start()
  t.teardown(() => receiver.close())
  const tracing = await startTracing({
    tracesUrl: `${receiver.url}/v1/traces`,
    protocol: 'http/protobuf',
    headers: { authorization: 'Basic dGVzdDp0ZXN0' },
    serviceName: 'rostersync',
    resourceAttributes: {},
    sampler: 'always_on',
    samplerRatio: 1,
  })
  t.teardown(() => tracing.shutdown())
  const { app } = await build(t)
  t.equal((await app.inject({ method: 'GET', url: '/v1/users/u1/calendars' })).statusCode, 200)
  await tracing.flush()
  const [sent] = receiver.exports
  t.equal(sent?.path, '/v1/traces')
  t.equal(sent?.contentType, 'application/x-protobuf')
  t.equal(sent?.headers.authorization, 'Basic dGVzdDp0ZXN0')
  t.ok((sent?.bytes ?? 0) > 100, 'a protobuf body with spans in it')
})
