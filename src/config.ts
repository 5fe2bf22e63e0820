import { createPublicKey } from 'node:crypto'
import { z } from 'zod'
import { departments } from './schemas/crew.ts'

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback)

/** RFC 6750's b64token: what may follow `Bearer ` in an Authorization header. */
export const BEARER_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
const SERVICE_KEY_NAME = /^[A-Za-z0-9._-]{1,64}$/
export const MIN_SERVICE_KEY_LENGTH = 16
export const MIN_JWT_SECRET_BYTES = 32

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

/**
 * Every environment variable the service reads, with its default. Parsed once at boot
 * (src/server.ts); nothing else reads process.env. Documented in the README's Configuration table.
 */
export const configSchema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(3000).pipe(z.number().max(65535)),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** When unset, an embedded PostgreSQL is started with its data under EMBEDDED_PG_DATA_DIR. */
  DATABASE_URL: z.url({ protocol: /^postgres(ql)?$/ }).optional(),
  EMBEDDED_PG_DATA_DIR: z.string().min(1).default('./.data/postgres'),
  /** 0 picks a free port at every start. */
  EMBEDDED_PG_PORT: int(0).pipe(z.number().max(65535)),
  DB_POOL_MAX: int(10, 1),
  DB_CONNECT_TIMEOUT_MS: int(5_000, 1),
  DB_STATEMENT_TIMEOUT_MS: int(15_000, 1),
  DB_LOCK_TIMEOUT_MS: int(10_000, 1),
  DB_IDLE_IN_TRANSACTION_TIMEOUT_MS: int(30_000, 1),
  /** How long a request may wait for a connection to start its transaction. */
  DB_TX_MAX_WAIT_MS: int(5_000, 1),
  /** Upper bound on one interactive transaction; longer ones are rolled back. */
  DB_TX_TIMEOUT_MS: int(30_000, 1),
  /** Attempts for a transaction that fails with a serialization failure or deadlock. */
  DB_TX_MAX_ATTEMPTS: int(3, 1),
  /** Largest request body: 10,000 calendars of about 400 bytes each (README "Memory"). */
  BODY_LIMIT_BYTES: int(4 * 1024 * 1024, 1024),
  /**
   * Request body bytes the process parses and holds at once (src/plugins/body-budget.ts); a body that
   * does not fit while others are in flight is answered 503 with Retry-After. At least BODY_LIMIT_BYTES;
   * more than BODY_BYTES_PER_CREDENTIAL, so that another credential's body fits beside one credential's.
   */
  BODY_BYTES_IN_FLIGHT: int(6 * 1024 * 1024, 1024),
  /**
   * The share of BODY_BYTES_IN_FLIGHT one credential may hold at once, so that one credential's bodies
   * (stalled or not) never keep another's out; over it, 503 with Retry-After. At least BODY_LIMIT_BYTES
   * (one body of the largest size), at most BODY_BYTES_IN_FLIGHT. Unset: BODY_LIMIT_BYTES (bodyShareBytes).
   */
  BODY_BYTES_PER_CREDENTIAL: z.coerce.number().int().min(1024).optional(),
  /** How long a request's whole body may take to arrive after its headers (then 408, connection closed). */
  BODY_READ_TIMEOUT_MS: int(60_000, 1),
  /** How long a request's body may pause, before its first chunk or between two (then 408, connection closed). */
  BODY_IDLE_TIMEOUT_MS: int(10_000, 1),
  /**
   * The most of a refused body (413, 415, 503) read and thrown away after its answer, so that its client
   * reads the answer instead of a reset (src/plugins/refused-body.ts); a body that ends within it keeps
   * its connection. Past it, the server ends the connection and lingers BODY_LINGER_MS before closing.
   */
  BODY_DRAIN_BYTES: int(64 * 1024 * 1024, 0),
  /**
   * How long the rest of a refused body is read after its answer before the server ends the connection,
   * and again after that before it closes it (a lingering close): the time its client has to read the answer.
   */
  BODY_LINGER_MS: int(5_000, 1),
  /** How long a request's headers may take to arrive (Node's headersTimeout; then 408, connection closed). */
  HEADERS_TIMEOUT_MS: int(20_000, 1),
  /** Seconds a client is told to wait (Retry-After) when the database is busy. */
  RETRY_AFTER_SECONDS: int(1, 1),
  /**
   * On SIGINT/SIGTERM, how long the server goes on serving with readiness off and `Connection: close`
   * on every answer before it stops listening (README "Shutdown"); 0 stops listening at once.
   */
  SHUTDOWN_DRAIN_MS: int(5_000, 0),
  /** After the drain, grace period for in-flight requests and reconciles before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: int(10_000, 1),
  /** Flex's API root, e.g. https://<tenant>.flexrentalsolutions.com/f5/api. Unset: sync routes answer 503. */
  FLEX_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  FLEX_AUTH_TOKEN: z.string().min(1).optional(),
  /** Upper bound on one Flex HTTP attempt. */
  FLEX_TIMEOUT_MS: int(10_000, 1),
  /**
   * The largest Flex answer read, streamed and counted (README "Memory"): 4 MiB holds an element's
   * listing of about 2,000 rows of 2 KB, several times the largest crew call plausible. A larger one
   * fails the run as bad-response, read no further.
   */
  FLEX_MAX_ANSWER_BYTES: int(4 * 1024 * 1024, 1024),
  /**
   * How long an add whose outcome is unknown (timeout, dropped connection, 5xx but 503) may still land
   * in Flex: no sync adds that resource on that element again before it has passed.
   */
  FLEX_ADD_DOUBT_MS: int(60_000, 0),
  /** Attempts for idempotent Flex calls (list, set role, remove); an add is never blindly retried. */
  FLEX_MAX_ATTEMPTS: int(3, 1),
  /** Most Flex calls in flight during one sync. */
  FLEX_CONCURRENCY: int(32, 1),
  /** Business role ids per department and tier, e.g. {"sound":{"R":"…","E":"…","T":"…"}}. */
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
    .pipe(z.partialRecord(z.enum(departments), z.partialRecord(z.enum(['R', 'E', 'T']), z.string().min(1))))
    .default({}),
  /**
   * Flex's API call limits (its help centre: Enterprise 2,000 an hour and 10,000 a day; Lite 20 an
   * hour), as one budget shared by every instance through the database. A sync that does not fit is
   * deferred, not run.
   */
  FLEX_CALLS_PER_HOUR: int(2_000, 1),
  FLEX_CALLS_PER_DAY: int(10_000, 1),
  /** A sync's lease on its crew call: the longest a crashed instance can block the next sync. */
  SYNC_LEASE_MS: int(15_000, 100),
  /** How long a sync request waits for a running sync of the same crew call before answering 409. */
  SYNC_WAIT_MS: int(30_000, 0),
  /** Roster changes within this long of the first one lead to one reconcile. */
  SYNC_DEBOUNCE_MS: int(1_000, 0),
  /** Backoff after an unsuccessful run: full jitter, from this base, doubling per attempt... */
  SYNC_RETRY_BASE_MS: int(5_000, 1),
  /** ...up to this ceiling. A retryAt from Flex (429) or the call budget is taken as it is. */
  SYNC_RETRY_MAX_MS: int(600_000, 1),
  /** Unsuccessful runs in a row after which a crew call is `failed` until a change or a manual sync. */
  SYNC_MAX_ATTEMPTS: int(10, 1),
  /**
   * Runs in a row lost with their process (claimed, never finished: the process died, its lease
   * lapsed) after which a crew call is quarantined: `failed` until a change or a manual sync.
   */
  SYNC_MAX_CRASHES: int(2, 1),
  /** Every crew call with a roster is reconciled at least this often (drift repair); 0 turns it off. */
  SYNC_RESYNC_INTERVAL_MS: int(900_000, 0),
  /** Whether this instance runs reconcile workers (when Flex is configured). */
  SYNC_WORKER: z.enum(['on', 'off']).default('on'),
  /** Reconciles one instance runs at once. */
  SYNC_WORKER_CONCURRENCY: int(4, 1),
  /**
   * The longest an idle worker sleeps before looking for due crew calls again; it wakes sooner when the
   * next reconcile it knows of falls due, or when told of a roster change (SYNC_LISTEN).
   */
  SYNC_POLL_MS: int(1_000, 10),
  /**
   * on: workers LISTEN (one dedicated connection per instance) for roster changes made on any instance
   * and wake when their reconcile falls due; off: they learn of other instances' changes by polling only.
   */
  SYNC_LISTEN: z.enum(['on', 'off']).default('on'),
  /** Requests each credential may make per RATE_LIMIT_WINDOW_MS on /v1 (per instance); then 429. */
  RATE_LIMIT_MAX: int(1_200, 1),
  RATE_LIMIT_WINDOW_MS: int(60_000, 1_000),
  /** How long an Idempotency-Key's response is kept and replayed; then the key is free again and purged. */
  IDEMPOTENCY_TTL_SECONDS: int(86_400, 1),
  /** A running request's hold on its Idempotency-Key, renewed while it runs: how long a crash blocks a retry. */
  IDEMPOTENCY_LEASE_MS: int(15_000, 100),
  /** How often each instance deletes expired idempotency keys. */
  IDEMPOTENCY_PURGE_INTERVAL_MS: int(60_000, 100),
  /** The last this many versions of every calendar set and roster are kept in its history, however old. */
  HISTORY_KEEP_VERSIONS: int(100, 1),
  /** Every version younger than this many days is kept, however many. */
  HISTORY_KEEP_DAYS: int(30, 0),
  /** How often each instance prunes versions no longer kept (in batches of 1,000). */
  HISTORY_PRUNE_INTERVAL_MS: int(60_000, 100),
  /** Upper bound on one webhook delivery attempt: connect, send, and read the start of the answer. */
  WEBHOOK_TIMEOUT_MS: int(15_000, 1),
  /**
   * Delays before each attempt of a webhook delivery, in ms, comma-separated (jittered by up to 20%);
   * after the last the delivery is `failed`. Default: the Standard Webhooks schedule (0, 5 s, 5 min,
   * 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h).
   */
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
  /** How long the old secret keeps signing beside the new one after a rotation. */
  WEBHOOK_SECRET_OVERLAP_MS: int(86_400_000, 0),
  /** Allows http and loopback/private/link-local webhook URLs: for development and tests only. */
  WEBHOOK_ALLOW_PRIVATE_NETWORKS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  /** Whether this instance runs webhook delivery workers. */
  WEBHOOK_WORKER: z.enum(['on', 'off']).default('on'),
  /** Webhook deliveries one instance makes at once. */
  WEBHOOK_WORKER_CONCURRENCY: int(8, 1),
  /** Deliveries in flight to one endpoint at once, over every instance: a slow receiver cannot starve others. */
  WEBHOOK_ENDPOINT_CONCURRENCY: int(2, 1),
  /** How often an idle delivery worker looks for due deliveries. */
  WEBHOOK_POLL_MS: int(250, 10),
  /** When set, GET /metrics needs it as a bearer token. */
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Service keys for internal callers, `name:key,name:key`; a service key may call every /v1 route. */
  AUTH_SERVICE_KEYS: serviceKeysSchema.default([]),
  /** HS256 secret for user tokens (JWTs). */
  AUTH_JWT_SECRET: z
    .string()
    .refine((secret) => Buffer.byteLength(secret) >= MIN_JWT_SECRET_BYTES, {
      message: `must be at least ${MIN_JWT_SECRET_BYTES} bytes`,
    })
    .optional(),
  /** PEM public key for RS256 or ES256 user tokens. */
  AUTH_JWT_PUBLIC_KEY: jwtPublicKeySchema.optional(),
  /** When set, a user token's `iss` must equal it. */
  AUTH_JWT_ISSUER: z.string().min(1).optional(),
  /** When set, a user token's `aud` must contain it. */
  AUTH_JWT_AUDIENCE: z.string().min(1).optional(),
  /** Where src/server.ts keeps the service key it generates when no credential is configured. */
  AUTH_SERVICE_KEY_FILE: z.string().min(1).default('./.data/service-key'),
})

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
      message: `must be at most BODY_BYTES_IN_FLIGHT (${config.BODY_BYTES_IN_FLIGHT}): a share of the budget (unset, it is BODY_LIMIT_BYTES)`,
    })
  if (config.BODY_IDLE_TIMEOUT_MS > config.BODY_READ_TIMEOUT_MS)
    ctx.addIssue({
      code: 'custom',
      path: ['BODY_IDLE_TIMEOUT_MS'],
      message: `must be at most BODY_READ_TIMEOUT_MS (${config.BODY_READ_TIMEOUT_MS}): a pause within the whole read`,
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

/** The body bytes one credential may hold in flight: BODY_BYTES_PER_CREDENTIAL, by default one body of the largest size. */
export const bodyShareBytes = (config: Pick<Config, 'BODY_BYTES_PER_CREDENTIAL' | 'BODY_LIMIT_BYTES'>) =>
  config.BODY_BYTES_PER_CREDENTIAL ?? config.BODY_LIMIT_BYTES

/** How much later than the headers' and the body's deadlines Node's requestTimeout ends a request. */
export const REQUEST_TIMEOUT_SLACK_MS = 5_000

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

/** Whether any credential is configured; src/server.ts generates a service key when none is. */
export function hasCredentials(config: Config): boolean {
  return config.AUTH_SERVICE_KEYS.length > 0 || !!config.AUTH_JWT_SECRET || !!config.AUTH_JWT_PUBLIC_KEY
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
