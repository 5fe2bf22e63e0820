import { createPublicKey } from 'node:crypto'
import { z } from 'zod'
import { DEFAULT_DEPARTMENTS, DEPARTMENT_NAME, MAX_DEPARTMENTS } from './schemas/departments.ts'

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback)

/** RFC 6750's b64token: what may follow `Bearer ` in an Authorization header. */
export const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const SERVICE_KEY_NAME = /^[A-Za-z0-9._-]{1,64}$/
export const MIN_SERVICE_KEY_LENGTH = 16
const MIN_JWT_SECRET_BYTES = 32

export interface ServiceKey {
  name: string
  key: string
}

/**
 * AUTH_SERVICE_KEYS: `name:key,name:key`. Messages name entries by position and name, never by key.
 */
const serviceKeysSchema = z.string().transform((text, ctx): ServiceKey[] => {
  const keys: ServiceKey[] = []
  const fail = (message: string) => ctx.addIssue({ code: 'custom', message })
  for (const [index, entry] of text.split(',').entries()) {
    const pair = entry.trim()
    const colon = pair.indexOf(':')
    if (colon < 0) {
      fail(`entry ${index + 1} is not name:key`)
      continue
    }
    const name = pair.slice(0, colon)
    const key = pair.slice(colon + 1)
    if (!SERVICE_KEY_NAME.test(name))
      fail(`entry ${index + 1}: the name must be 1-64 letters, digits, '.', '_' or '-'`)
    else if (keys.some((other) => other.name === name)) fail(`the name ${name} is used twice`)
    if (key.length < MIN_SERVICE_KEY_LENGTH)
      fail(`entry ${index + 1}: the key must be at least ${MIN_SERVICE_KEY_LENGTH} characters`)
    else if (!BEARER_TOKEN.test(key))
      fail(`entry ${index + 1}: the key may hold only letters, digits, - . _ ~ + / and trailing =`)
    else if (keys.some((other) => other.key === key)) fail(`entry ${index + 1}: the key is used twice`)
    keys.push({ name, key })
  }
  return keys
})

/** OTEL_TRACES_SAMPLER's values, as the OpenTelemetry specification names them. */
const traceSamplers = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const

/** The OpenTelemetry list format, `key=value,key=value` with percent-encoded values. */
function keyValueList() {
  return z.string().transform((text, ctx): Record<string, string> => {
    const pairs: Record<string, string> = {}
    for (const [index, entry] of text.split(',').entries()) {
      if (entry.trim() === '') continue
      const equals = entry.indexOf('=')
      const key = entry.slice(0, equals).trim()
      if (equals < 0 || key === '') {
        ctx.addIssue({ code: 'custom', message: `entry ${index + 1} is not key=value` })
        continue
      }
      try {
        pairs[key] = decodeURIComponent(entry.slice(equals + 1).trim())
      } catch {
        ctx.addIssue({
          code: 'custom',
          message: `entry ${index + 1} (${key}): the value is not percent-encoded text`,
        })
      }
    }
    return pairs
  })
}

export type JwtPublicKeyAlgorithm = 'RS256' | 'ES256'

/**
 * AUTH_JWT_PUBLIC_KEY: a PEM public key, with real or `\n`-escaped newlines. An RSA key (2048 bits or
 * more) verifies RS256 tokens, a P-256 key ES256 tokens, and nothing else.
 */
const jwtPublicKeySchema = z.string().transform((text, ctx) => {
  const pem = text.replaceAll('\\n', '\n').replaceAll('\r\n', '\n').trim()
  if (!/^-----BEGIN (RSA )?PUBLIC KEY-----\n[\s\S]+\n-----END (RSA )?PUBLIC KEY-----$/.test(pem)) {
    ctx.addIssue({ code: 'custom', message: 'must be a PEM public key (-----BEGIN PUBLIC KEY-----)' })
    return z.NEVER
  }
  let algorithm: JwtPublicKeyAlgorithm | undefined
  try {
    const key = createPublicKey(pem)
    const details = key.asymmetricKeyDetails
    if (key.asymmetricKeyType === 'rsa' && (details?.modulusLength ?? 0) >= 2048) algorithm = 'RS256'
    if (key.asymmetricKeyType === 'ec' && details?.namedCurve === 'prime256v1') algorithm = 'ES256'
  } catch {
    ctx.addIssue({ code: 'custom', message: 'is not a readable PEM public key' })
    return z.NEVER
  }
  if (!algorithm) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be an RSA key of 2048 bits or more (RS256) or a P-256 key (ES256)',
    })
    return z.NEVER
  }
  return { pem, algorithm }
})

/** CREW_DEPARTMENTS: `sound,lights,video`; each a department name, none twice, at least one, at most MAX_DEPARTMENTS. */
const departmentsSchema = z.string().transform((text, ctx): string[] => {
  const names = text.split(',').map((name) => name.trim())
  if (names.length > MAX_DEPARTMENTS)
    ctx.addIssue({
      code: 'custom',
      message: `at most ${MAX_DEPARTMENTS} departments (the API declares that bound)`,
    })
  for (const [index, name] of names.entries()) {
    if (!DEPARTMENT_NAME.test(name))
      ctx.addIssue({
        code: 'custom',
        message: `entry ${index + 1} (${JSON.stringify(name)}) must be 1-32 lower-case letters, digits or '-', from a letter`,
      })
    else if (names.indexOf(name) !== index)
      ctx.addIssue({ code: 'custom', message: `the department ${name} is listed twice` })
  }
  return names
})

/**
 * Every environment variable the service reads, with its default. Parsed once at boot
 * (src/server.ts); nothing else reads process.env. What each one means is in configVariableMeanings
 * below, which docs/configuration.md is generated from (npm run docs:config).
 */
export const configSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(3000).pipe(z.number().max(65535)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url({ protocol: /^https?$/ }).optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: z
    .enum(['http/protobuf', 'http/json'], {
      message: "must be 'http/protobuf' or 'http/json' (gRPC is not supported)",
    })
    .default('http/protobuf'),
  OTEL_EXPORTER_OTLP_HEADERS: keyValueList().default({}),
  OTEL_SERVICE_NAME: z.string().min(1).default('rostersync'),
  OTEL_RESOURCE_ATTRIBUTES: keyValueList().default({}),
  OTEL_TRACES_SAMPLER: z.enum(traceSamplers).default('parentbased_always_on'),
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).default(1),
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  EMBEDDED_PG_DATA_DIR: z.string().min(1).default('./.data/postgres'),
  EMBEDDED_PG_PORT: int(0).pipe(z.number().max(65535)),
  DB_POOL_MAX: int(10, 1),
  DB_CONNECT_TIMEOUT_MS: int(5_000, 1),
  DB_STATEMENT_TIMEOUT_MS: int(15_000, 1),
  DB_LOCK_TIMEOUT_MS: int(10_000, 1),
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(30_000, 1),
  DB_TX_MAX_WAIT_MS: int(5_000, 1),
  DB_TX_TIMEOUT_MS: int(30_000, 1),
  DB_TX_MAX_ATTEMPTS: int(3, 1),
  BODY_LIMIT_BYTES: int(4 * 1024 * 1024, 1024),
  BODY_BYTES_IN_FLIGHT: int(16 * 1024 * 1024, 1024),
  BODY_BYTES_PER_CREDENTIAL: z.coerce.number().int().min(1024).optional(),
  BODY_READ_TIMEOUT_MS: int(60_000, 1),
  BODY_IDLE_TIMEOUT_MS: int(10_000, 1),
  BODY_DRAIN_BYTES: int(64 * 1024 * 1024, 0),
  BODY_LINGER_MS: int(5_000, 1),
  HEADERS_TIMEOUT_MS: int(20_000, 1),
  RETRY_AFTER_SECONDS: int(1, 1),
  SHUTDOWN_DRAIN_MS: int(5_000, 0),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 1),
  FLEX_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  FLEX_AUTH_TOKEN: z.string().min(1).optional(),
  FLEX_TIMEOUT_MS: int(10_000, 1),
  FLEX_MAX_ANSWER_BYTES: int(4 * 1024 * 1024, 1024),
  FLEX_ADD_DOUBT_MS: int(60_000, 0),
  FLEX_MAX_ATTEMPTS: int(3, 1),
  FLEX_CONCURRENCY: int(32, 1),
  CREW_DEPARTMENTS: departmentsSchema.default([...DEFAULT_DEPARTMENTS]),
  FLEX_BUSINESS_ROLES: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown
      } catch {
        ctx.addIssue({ code: 'custom', message: 'must be JSON' })
        return z.NEVER
      }
    })
    .pipe(z.record(z.string(), z.partialRecord(z.enum(['R', 'E', 'T']), z.string().min(1))))
    .default({}),
  FLEX_CALLS_PER_HOUR: int(2_000, 1),
  FLEX_CALLS_PER_DAY: int(10_000, 1),
  SYNC_LEASE_MS: int(15_000, 100),
  SYNC_WAIT_MS: int(30_000, 0),
  SYNC_DEBOUNCE_MS: int(1_000, 0),
  SYNC_RETRY_BASE_MS: int(5_000, 1),
  SYNC_RETRY_MAX_MS: int(600_000, 1),
  SYNC_MAX_ATTEMPTS: int(10, 1),
  SYNC_MAX_CRASHES: int(2, 1),
  SYNC_RESYNC_INTERVAL_MS: int(900_000, 0),
  SYNC_WORKER: z.enum(['on', 'off']).default('on'),
  SYNC_WORKER_CONCURRENCY: int(8, 1),
  SYNC_POLL_MS: int(1_000, 10),
  SYNC_LISTEN: z.enum(['on', 'off']).default('on'),
  RATE_LIMIT_MAX: z.coerce.number().int().min(1).max(2_147_483_647).default(1_200),
  RATE_LIMIT_WINDOW_MS: z.coerce.number().int().min(1_000).max(86_400_000).default(60_000),
  RATE_LIMIT_REDIS_URL: z.url({ protocol: /^rediss?$/ }).optional(),
  RATE_LIMIT_REDIS_TIMEOUT_MS: int(500, 1),
  RATE_LIMIT_REDIS_PREFIX: z.string().min(1).default('rostersync:rate-limit:'),
  IDEMPOTENCY_TTL_SECONDS: int(86_400, 1),
  IDEMPOTENCY_LEASE_MS: int(15_000, 100),
  IDEMPOTENCY_PURGE_INTERVAL_MS: int(60_000, 100),
  HISTORY_KEEP_VERSIONS: int(100, 1),
  HISTORY_KEEP_DAYS: int(30, 0),
  HISTORY_PRUNE_INTERVAL_MS: int(60_000, 100),
  WEBHOOK_KEEP_DAYS: z.coerce.number().int().min(0).optional(),
  DEPLOYMENT_ENVIRONMENT: z.enum(['local', 'test', 'staging', 'production']).default('local'),
  WEBHOOK_TIMEOUT_MS: int(15_000, 1),
  WEBHOOK_RETRY_SCHEDULE_MS: z
    .string()
    .default('0,5000,300000,1800000,7200000,18000000,36000000,50400000,72000000,86400000')
    .transform((text, ctx) => {
      const delays = text.split(',').map((part) => part.trim())
      if (delays.some((part) => !/^\d{1,10}$/.test(part))) {
        ctx.addIssue({
          code: 'custom',
          message: 'must be a comma-separated list of delays in ms, e.g. 0,5000,300000',
        })
        return z.NEVER
      }
      return delays.map(Number)
    }),
  WEBHOOK_SECRET_OVERLAP_MS: int(86_400_000, 0),
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  WEBHOOK_WORKER: z.enum(['on', 'off']).default('on'),
  WEBHOOK_WORKER_CONCURRENCY: int(32, 1),
  WEBHOOK_ENDPOINT_CONCURRENCY: int(8, 1),
  WEBHOOK_POLL_MS: int(250, 10),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  AUTH_SERVICE_KEYS: serviceKeysSchema.default([]),
  AUTH_JWT_SECRET: z
    .string()
    .refine((secret) => Buffer.byteLength(secret) >= MIN_JWT_SECRET_BYTES, {
      message: `must be at least ${MIN_JWT_SECRET_BYTES} bytes`,
    })
    .optional(),
  AUTH_JWT_PUBLIC_KEY: jwtPublicKeySchema.optional(),
  AUTH_JWT_ISSUER: z.string().min(1).optional(),
  AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
  AUTH_SERVICE_KEY_FILE: z.string().min(1).default('./.data/service-key'),
  AUTH_JWT_SECRET_FILE: z.string().min(1).default('./.data/jwt-secret'),
  NODE_ENV: z.string().min(1).optional(),
})

/** A variable of configSchema, as it is named in the environment. */
export type ConfigVariable = keyof typeof configSchema.shape

/**
 * What each variable means, for an operator: the one source of docs/configuration.md, which
 * scripts/config-doc.ts renders with the defaults read off configSchema (test/docs.test.ts
 * fails when the page and these disagree). Markdown; links are relative to docs/.
 */
export const configVariableMeanings: Record<ConfigVariable, string> = {
  HOST: 'interface to listen on (`0.0.0.0` in the Docker image)',
  PORT: 'port to listen on',
  LOG_LEVEL: 'pino level: `fatal` `error` `warn` `info` `debug` `trace` `silent`',
  LOG_FORMAT:
    '`json` (one object a line), `pretty` (pino-pretty; `npm run dev` sets it), or `auto`: pretty when stdout is a terminal and pino-pretty (a dev dependency) is installed, JSON otherwise. What the log says: [operations.md](operations.md#logs)',
  OTEL_EXPORTER_OTLP_ENDPOINT:
    'OTLP/HTTP endpoint (e.g. `http://collector:4318`; traces go to `<it>/v1/traces`): setting it (or the next) turns OpenTelemetry tracing on; unset, nothing of it is loaded. Spans and attributes: [operations.md](operations.md#traces)',
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT:
    'the full traces URL, used as it is; wins over `OTEL_EXPORTER_OTLP_ENDPOINT`',
  OTEL_EXPORTER_OTLP_PROTOCOL: '`http/protobuf` or `http/json` (gRPC is not supported)',
  OTEL_EXPORTER_OTLP_HEADERS:
    'headers sent with every export, `name=value,...` (values percent-encoded); never logged',
  OTEL_SERVICE_NAME: "the traces' `service.name`",
  OTEL_RESOURCE_ATTRIBUTES: 'more resource attributes, `key=value,...`',
  OTEL_TRACES_SAMPLER:
    '`always_on` `always_off` `traceidratio` `parentbased_always_on` `parentbased_always_off` `parentbased_traceidratio`',
  OTEL_TRACES_SAMPLER_ARG: "the `traceidratio` samplers' ratio, 0 to 1",
  DATABASE_URL: '`postgresql://user:pass@host:5432/db`; unset starts the embedded PostgreSQL',
  EMBEDDED_PG_DATA_DIR: 'data directory of the embedded PostgreSQL (its password is kept beside it)',
  EMBEDDED_PG_PORT: 'port of the embedded PostgreSQL on 127.0.0.1; `0` picks a free one',
  DB_POOL_MAX: 'connections in the pool',
  DB_CONNECT_TIMEOUT_MS: 'longest wait for a pool connection (then 503)',
  DB_STATEMENT_TIMEOUT_MS: 'PostgreSQL `statement_timeout` (then 503)',
  DB_LOCK_TIMEOUT_MS:
    'PostgreSQL `lock_timeout`, e.g. waiting for another replace of the same user (then 503)',
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: 'PostgreSQL `idle_in_transaction_session_timeout`',
  DB_TX_MAX_WAIT_MS: 'longest wait to start a transaction (then 503)',
  DB_TX_TIMEOUT_MS: 'longest transaction; longer ones are rolled back',
  DB_TX_MAX_ATTEMPTS: 'attempts for a transaction failing with a serialization failure or deadlock',
  BODY_LIMIT_BYTES:
    "largest request body (then 413): 10,000 calendars of about 400 bytes each (Google Calendar's list entries are 250-300); see [Memory](operations.md#memory) before raising it",
  BODY_BYTES_IN_FLIGHT:
    'request body bytes parsed and held at once (16 MiB: four calendar sets of 10,000 calendars, 3.6 MB each); a body that does not fit beside those in flight is answered 503 with `Retry-After`, unparsed (at least `BODY_LIMIT_BYTES`; see [Memory](operations.md#memory) before raising it)',
  BODY_BYTES_PER_CREDENTIAL:
    "the part of `BODY_BYTES_IN_FLIGHT` one credential (a service key, a user) may hold at once: by default all of it but one body of the largest size, so another credential's body always fits beside one credential's; over it, 503 with `Retry-After`. Between `BODY_LIMIT_BYTES` and `BODY_BYTES_IN_FLIGHT`",
  BODY_READ_TIMEOUT_MS:
    'a request body must have arrived this long after its headers; otherwise 408 problem+json, the connection closed, its charge given back at once (see [Timeouts](operations.md#timeouts-for-what-clients-send))',
  BODY_IDLE_TIMEOUT_MS:
    'longest pause of a request body, before its first chunk or between two (then the same 408); at most `BODY_READ_TIMEOUT_MS`',
  BODY_DRAIN_BYTES:
    'the most of a refused body (413, 415, 503) read and thrown away after its answer, so that its client reads the answer instead of a reset; a body that ends within it keeps its connection; past it, the server ends the connection and lingers `BODY_LINGER_MS` before closing it (see [Refused bodies](operations.md#refused-bodies))',
  BODY_LINGER_MS:
    'how long the rest of a refused body is read after its answer before the server ends the connection, and again after that before it closes it (a lingering close): the time its client has to read the answer',
  HEADERS_TIMEOUT_MS:
    "a request's headers must have arrived this long after its first byte (Node's `headersTimeout`, whose own default is 60 s); then 408 problem+json, the connection closed",
  RETRY_AFTER_SECONDS: '`Retry-After` sent with every 503',
  SHUTDOWN_DRAIN_MS:
    'on SIGINT/SIGTERM, how long the server goes on serving with readiness 503 and `Connection: close` on every answer before it stops listening; `0` stops listening at once (development). `npm run worker` has nothing to drain and ignores it. See [Shutdown](operations.md#shutdown)',
  SHUTDOWN_TIMEOUT_MS:
    'after the drain, how long in-flight requests and reconciles may take before the process exits anyway (code 1); webhook delivery attempts get at most half of it, then are cut short and given back, due again at once',
  FLEX_BASE_URL:
    "Flex's API root, e.g. `https://<tenant>.flexrentalsolutions.com/f5/api`; unset (or no token): sync routes answer 501 `flex-not-configured` (no `Retry-After`: retrying cannot help), crew calls not in sync read `not-configured`, the rest works",
  FLEX_AUTH_TOKEN: 'sent as `X-Auth-Token` on every Flex call; never logged',
  FLEX_TIMEOUT_MS: 'upper bound on one Flex HTTP attempt',
  FLEX_MAX_ANSWER_BYTES:
    'the largest Flex answer read: answers are streamed and counted, and one past it fails its call as `bad-response` ("answer larger than N bytes"), read no further; 4 MiB is several times the largest listing a crew call plausibly has (see [Memory](operations.md#memory))',
  FLEX_MAX_ATTEMPTS:
    'attempts for idempotent Flex calls (list, set role, remove) on 5xx, timeouts and network errors; an add is never blindly retried, and a 429 defers the run instead',
  FLEX_CONCURRENCY: 'most Flex calls in flight during one sync',
  HISTORY_KEEP_VERSIONS:
    'the last this many versions of every calendar set and every roster are kept in its history, however old',
  HISTORY_KEEP_DAYS: 'every version younger than this many days is kept, however many',
  HISTORY_PRUNE_INTERVAL_MS:
    "how often each instance deletes versions no longer kept, and the webhook outbox's delivered events (batches of 1,000)",
  FLEX_ADD_DOUBT_MS:
    'how long an add whose outcome is unknown (a timeout, a dropped connection, a 5xx other than 503) may still land in Flex; no sync adds that technician on that element again before it has passed. An add still in flight when its instance dies or loses its lease holds the technician back for `FLEX_TIMEOUT_MS` plus this',
  CREW_DEPARTMENTS:
    'the departments a crew call may be for, comma-separated (1-32 lower-case letters, digits, `-`, from a letter; none twice); validated at start; the `department` of every crew-call route is this enum in the OpenAPI document, another is a 400',
  FLEX_BUSINESS_ROLES:
    'business role ids per department (of `CREW_DEPARTMENTS`) and tier, e.g. `{"sound":{"R":"…","E":"…","T":"…"}}`; see [Business roles](operations.md#business-roles-per-department-and-tier). No id, no role set, and the run says so in a note',
  FLEX_CALLS_PER_HOUR:
    "Flex calls all instances together may make in any hour (Flex's Enterprise limit; Lite allows 20); a sync that does not fit is `deferred`",
  FLEX_CALLS_PER_DAY: "the same over any 24 hours (Flex's Enterprise limit)",
  SYNC_LEASE_MS:
    "a sync's lease on its crew call, renewed every third of it: the longest a crashed instance can block the next sync",
  SYNC_WAIT_MS:
    'how long a sync request waits for a running sync of the same crew call before answering 409 with Retry-After',
  SYNC_DEBOUNCE_MS: 'roster changes within this long of the first one share one automatic reconcile',
  SYNC_RETRY_BASE_MS: 'backoff after an unsuccessful run: a random wait below this, doubling per attempt...',
  SYNC_RETRY_MAX_MS: '...up to this; a `retryAt` from Flex (429) or the call budget is taken as it is',
  SYNC_MAX_ATTEMPTS:
    'unsuccessful runs in a row after which a crew call is `failed` until a roster change or a manual sync',
  SYNC_MAX_CRASHES:
    'runs in a row lost with their process (claimed, never finished: the process died and its lease lapsed) after which a crew call is quarantined: `failed` with "its sync ended the process twice", claimed by no worker until a roster change or a manual sync',
  SYNC_RESYNC_INTERVAL_MS:
    'every crew call with a roster is reconciled at least this often (drift repair); `0` turns it off',
  SYNC_WORKER:
    '`on`: this instance runs reconcile workers (when Flex is configured); `off`: it does not (`npm run worker` runs them apart)',
  SYNC_WORKER_CONCURRENCY:
    'reconciles one instance runs at a time: 20 crew calls due at once run in three waves, not five (docs/performance.md); each run has at most `FLEX_CONCURRENCY` Flex calls in flight and one listing in memory, and takes its calls from the shared budget first, so more workers spend it sooner, never beyond it',
  SYNC_POLL_MS:
    'the longest an idle worker sleeps before looking for due crew calls again; it wakes sooner when the next reconcile it knows of falls due, or when told of a roster change (`SYNC_LISTEN`)',
  SYNC_LISTEN:
    "`on`: each instance's workers LISTEN (one dedicated connection per instance) for roster changes made on any instance (`NOTIFY rostersync_sync_due`, sent in the change's transaction) and wake when their reconcile falls due; `off`: other instances' changes are found by polling (`SYNC_POLL_MS`) only",
  WEBHOOK_TIMEOUT_MS:
    'upper bound on one webhook delivery attempt (connect, send, read the first 4 KB of the answer); then it counts as failed',
  WEBHOOK_RETRY_SCHEDULE_MS:
    "delays before each attempt of a delivery, in ms (Standard Webhooks' schedule), each jittered by up to 20%; a longer `Retry-After` (429, 502, 503, 504) wins; after the last attempt the delivery is `failed` (retry it by hand)",
  WEBHOOK_SECRET_OVERLAP_MS:
    'after `rotate-secret`, how long the old secret keeps signing beside the new one',
  WEBHOOK_ALLOW_PRIVATE_NETWORKS:
    '`true` allows `http` and loopback, private and link-local webhook URLs: for development and tests only',
  WEBHOOK_WORKER: 'whether this instance runs webhook delivery workers',
  WEBHOOK_WORKER_CONCURRENCY:
    'webhook deliveries one instance makes at a time (each an open request; one statement claims for all free ones)',
  WEBHOOK_ENDPOINT_CONCURRENCY:
    'deliveries in flight to one endpoint at a time, over every instance, so one slow receiver cannot starve the others',
  WEBHOOK_POLL_MS: 'how often an idle delivery worker looks for due deliveries',
  WEBHOOK_KEEP_DAYS:
    'webhook deliveries that succeeded more than this many days ago, and events left without a delivery, are pruned; pending and failed ones never are',
  RATE_LIMIT_MAX:
    'requests each credential (service key, or user `sub`) may make on `/v1` per window; then 429 with Retry-After. With `RATE_LIMIT_REDIS_URL` one budget shared by every instance; without it per instance (N instances allow N times it)',
  RATE_LIMIT_WINDOW_MS:
    "the rate limit's fixed window (1 s to 1 day: `X-RateLimit-Reset` and a 429's `Retry-After` are declared up to 86,400 s)",
  RATE_LIMIT_REDIS_URL:
    '`redis://` or `rediss://` URL of the Redis holding the counters every instance shares. Unset: each instance counts in its own memory. Redis not answering: each instance counts its own requests until it answers again, logged once (warn) and shown by the metric `rostersync_rate_limit_shared` 0; never a 5xx',
  RATE_LIMIT_REDIS_TIMEOUT_MS:
    'the longest a request waits for Redis (connecting, or one answer) before it is counted per instance',
  RATE_LIMIT_REDIS_PREFIX:
    "prefix of the counters' keys, so deployments sharing one Redis keep their budgets apart",
  IDEMPOTENCY_TTL_SECONDS:
    'how long the response to a request with an `Idempotency-Key` is kept and replayed; then the key is free again and purged',
  IDEMPOTENCY_LEASE_MS:
    "a running request's hold on its `Idempotency-Key`, renewed every third of it: the longest a crashed instance blocks a retry with that key (409 meanwhile)",
  IDEMPOTENCY_PURGE_INTERVAL_MS:
    'how often each instance deletes expired idempotency keys (in batches of 1,000)',
  DEPLOYMENT_ENVIRONMENT:
    "`local`, `test`, `staging` or `production`: named in the OpenAPI document's server entry (which also says `x-internal: true`)",
  METRICS_TOKEN:
    '`GET /metrics` needs it as a bearer token (16+ characters); unset, `/metrics` is off (403 saying how to turn it on). See [Metrics](operations.md#metrics)',
  AUTH_SERVICE_KEYS:
    'service keys for internal callers, `name:key,name:key`; a name is 1-64 letters, digits, `.` `_` `-` and used once; a key is at least 16 characters of letters, digits, `-` `.` `_` `~` `+` `/` (and trailing `=`), e.g. `openssl rand -base64 32`, and used once. Never logged',
  AUTH_JWT_SECRET: 'HS256 secret (at least 32 bytes) for user tokens',
  AUTH_JWT_PUBLIC_KEY:
    'PEM public key for user tokens: RSA of 2048 bits or more (RS256) or P-256 (ES256); newlines may be written `\\n`',
  AUTH_JWT_ISSUER: "when set, a user token's `iss` must equal it (needs a secret or a public key)",
  AUTH_JWT_AUDIENCE: "when set, a user token's `aud` must contain it (needs a secret or a public key)",
  AUTH_SERVICE_KEY_FILE:
    'where the server keeps the service key it generates when none of `AUTH_SERVICE_KEYS`, `AUTH_JWT_SECRET`, `AUTH_JWT_PUBLIC_KEY` is set',
  AUTH_JWT_SECRET_FILE:
    'development only: with no credential set and `NODE_ENV` not `production`, the server also verifies user tokens (HS256) with a secret it keeps here, and `npm run token` signs with it',
  NODE_ENV:
    '`production` turns off what is for development only: the generated JWT secret and `npm run token`',
}

/** Defaults an operator sees that are not a value of the schema (another variable's, when unset). */
export const configDefaultsShown: Partial<Record<ConfigVariable, string>> = {
  BODY_BYTES_PER_CREDENTIAL:
    'unset: `BODY_BYTES_IN_FLIGHT` − `BODY_LIMIT_BYTES`, at least `BODY_LIMIT_BYTES`',
  WEBHOOK_KEEP_DAYS: '`HISTORY_KEEP_DAYS`',
  FLEX_BUSINESS_ROLES: '`{}`',
}

/** Checks that span variables. */
const checkedConfigSchema = configSchema.superRefine((config, ctx) => {
  if (config.BODY_BYTES_IN_FLIGHT < config.BODY_LIMIT_BYTES)
    ctx.addIssue({
      code: 'custom',
      path: ['BODY_BYTES_IN_FLIGHT'],
      message: `must be at least BODY_LIMIT_BYTES (${config.BODY_LIMIT_BYTES}): a body of the largest size must fit alone`,
    })
  if (
    config.BODY_BYTES_PER_CREDENTIAL !== undefined &&
    config.BODY_BYTES_PER_CREDENTIAL < config.BODY_LIMIT_BYTES
  )
    ctx.addIssue({
      code: 'custom',
      path: ['BODY_BYTES_PER_CREDENTIAL'],
      message: `must be at least BODY_LIMIT_BYTES (${config.BODY_LIMIT_BYTES}): a body of the largest size must fit a credential's share`,
    })
  if (bodyShareBytes(config) > config.BODY_BYTES_IN_FLIGHT)
    ctx.addIssue({
      code: 'custom',
      path: ['BODY_BYTES_PER_CREDENTIAL'],
      message: `must be at most BODY_BYTES_IN_FLIGHT (${config.BODY_BYTES_IN_FLIGHT}): a share of the budget`,
    })
  if (config.BODY_IDLE_TIMEOUT_MS > config.BODY_READ_TIMEOUT_MS)
    ctx.addIssue({
      code: 'custom',
      path: ['BODY_IDLE_TIMEOUT_MS'],
      message: `must be at most BODY_READ_TIMEOUT_MS (${config.BODY_READ_TIMEOUT_MS}): a pause within the whole read`,
    })
  for (const department of Object.keys(config.FLEX_BUSINESS_ROLES))
    if (!config.CREW_DEPARTMENTS.includes(department))
      ctx.addIssue({
        code: 'custom',
        path: ['FLEX_BUSINESS_ROLES'],
        message: `names the department ${department}, which is not in CREW_DEPARTMENTS (${config.CREW_DEPARTMENTS.join(',')})`,
      })
  if (config.AUTH_JWT_SECRET || config.AUTH_JWT_PUBLIC_KEY) return
  for (const variable of ['AUTH_JWT_ISSUER', 'AUTH_JWT_AUDIENCE'] as const) {
    if (config[variable])
      ctx.addIssue({
        code: 'custom',
        path: [variable],
        message: 'needs AUTH_JWT_SECRET or AUTH_JWT_PUBLIC_KEY: no user token can be verified without one',
      })
  }
})

export type Config = z.infer<typeof configSchema>

/**
 * The body bytes one credential may hold in flight: BODY_BYTES_PER_CREDENTIAL, by default the budget but
 * one body of the largest size (so another credential's largest body always fits beside one credential's
 * bodies), and never less than one body of the largest size.
 */
export const bodyShareBytes = (
  config: Pick<Config, 'BODY_BYTES_PER_CREDENTIAL' | 'BODY_LIMIT_BYTES' | 'BODY_BYTES_IN_FLIGHT'>,
) =>
  config.BODY_BYTES_PER_CREDENTIAL ??
  Math.max(config.BODY_LIMIT_BYTES, config.BODY_BYTES_IN_FLIGHT - config.BODY_LIMIT_BYTES)

/** How much later than the headers' and the body's deadlines Node's requestTimeout ends a request. */
const REQUEST_TIMEOUT_SLACK_MS = 5_000

/**
 * Node's requestTimeout (the whole request, headers and body, must have arrived): a backstop behind the
 * body's own deadline, which answers first with a problem+json 408. Fastify's default is 0 (none: it
 * turns off Node's 300 s), so a body nobody reads (one answered 401 or 503 before it arrived) could
 * otherwise hold its connection forever.
 */
export const requestTimeoutMs = (config: Config) =>
  config.HEADERS_TIMEOUT_MS + config.BODY_READ_TIMEOUT_MS + REQUEST_TIMEOUT_SLACK_MS

/** Flex settings when both the URL and the token are set; undefined means Flex is not configured. */
export function flexSettings(config: Config) {
  if (!config.FLEX_BASE_URL || !config.FLEX_AUTH_TOKEN) return undefined
  return { baseUrl: config.FLEX_BASE_URL, authToken: config.FLEX_AUTH_TOKEN }
}

/** Where and how traces are exported; undefined when tracing is off (no OTLP endpoint set). */
export function tracingSettings(config: Config) {
  const base = config.OTEL_EXPORTER_OTLP_ENDPOINT
  const tracesUrl =
    config.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? (base && `${base.replace(/\/+$/, '')}/v1/traces`)
  if (!tracesUrl) return undefined
  return {
    tracesUrl,
    protocol: config.OTEL_EXPORTER_OTLP_PROTOCOL,
    headers: config.OTEL_EXPORTER_OTLP_HEADERS,
    serviceName: config.OTEL_SERVICE_NAME,
    resourceAttributes: config.OTEL_RESOURCE_ATTRIBUTES,
    sampler: config.OTEL_TRACES_SAMPLER,
    samplerRatio: config.OTEL_TRACES_SAMPLER_ARG,
  }
}

/**
 * What the start line tells an operator: the effective Flex, worker, budget and history settings.
 * Never a secret: no token, key or header value, and the Flex URL without its query or credentials.
 */
export function effectiveSettings(config: Config) {
  const flex = flexSettings(config)
  const tracing = tracingSettings(config)
  return {
    flex: flex
      ? {
          configured: true as const,
          url: safeUrl(flex.baseUrl),
          timeoutMs: config.FLEX_TIMEOUT_MS,
          maxAttempts: config.FLEX_MAX_ATTEMPTS,
          concurrency: config.FLEX_CONCURRENCY,
          businessRoleDepartments: Object.keys(config.FLEX_BUSINESS_ROLES),
        }
      : {
          configured: false as const,
          missing: [
            ...(config.FLEX_BASE_URL ? [] : ['FLEX_BASE_URL']),
            ...(config.FLEX_AUTH_TOKEN ? [] : ['FLEX_AUTH_TOKEN']),
          ],
        },
    workers:
      flex && config.SYNC_WORKER === 'on'
        ? {
            running: true as const,
            concurrency: config.SYNC_WORKER_CONCURRENCY,
            pollMs: config.SYNC_POLL_MS,
            debounceMs: config.SYNC_DEBOUNCE_MS,
            retryBaseMs: config.SYNC_RETRY_BASE_MS,
            retryMaxMs: config.SYNC_RETRY_MAX_MS,
            maxAttempts: config.SYNC_MAX_ATTEMPTS,
            resyncIntervalMs: config.SYNC_RESYNC_INTERVAL_MS,
            leaseMs: config.SYNC_LEASE_MS,
          }
        : { running: false as const, why: flex ? 'SYNC_WORKER=off' : 'Flex is not configured' },
    flexCallBudget: { perHour: config.FLEX_CALLS_PER_HOUR, perDay: config.FLEX_CALLS_PER_DAY },
    history: {
      keepVersions: config.HISTORY_KEEP_VERSIONS,
      keepDays: config.HISTORY_KEEP_DAYS,
      pruneIntervalMs: config.HISTORY_PRUNE_INTERVAL_MS,
    },
    tracing: tracing
      ? {
          on: true as const,
          url: safeUrl(tracing.tracesUrl),
          protocol: tracing.protocol,
          sampler: tracing.sampler,
        }
      : { on: false as const },
  }
}

/** A URL for a log line: scheme, host and path only (no user, password or query). */
function safeUrl(url: string): string {
  const parsed = new URL(url)
  return `${parsed.protocol}//${parsed.host}${parsed.pathname}`
}

/** Whether any credential is configured; src/server.ts generates a service key when none is. */
export function hasCredentials(config: Config): boolean {
  return config.AUTH_SERVICE_KEYS.length > 0 || !!config.AUTH_JWT_SECRET || !!config.AUTH_JWT_PUBLIC_KEY
}

/**
 * Whether user tokens are verified with the generated development secret (AUTH_JWT_SECRET_FILE): only
 * when no credential is configured at all, and never in production.
 */
export function usesDevelopmentJwtSecret(config: Config): boolean {
  return !hasCredentials(config) && config.NODE_ENV !== 'production'
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Parses the environment; throws a ConfigError naming every invalid variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "not set", as in most shells' `VAR= command`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''))
  const result = checkedConfigSchema.safeParse(present)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`)
}
