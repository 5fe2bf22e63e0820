import { z } from 'zod'
import { departments } from './schemas/crew.ts'

const int = (fallback: number, min = 0) => z.coerce.number().int().min(min).default(fallback)

/**
 * Every environment variable the service reads, with its default. Parsed once at boot
 * (src/server.ts); nothing else reads process.env. Documented in the README's Configuration table.
 */
export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
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
  BODY_LIMIT_BYTES: int(16 * 1024 * 1024, 1024),
  /** Seconds a client is told to wait (Retry-After) when the database is busy. */
  RETRY_AFTER_SECONDS: int(1, 1),
  /** Grace period for in-flight requests on SIGINT/SIGTERM before the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: int(10_000, 1),
  /** Flex's API root, e.g. https://<tenant>.flexrentalsolutions.com/f5/api. Unset: sync routes answer 503. */
  FLEX_BASE_URL: z.url({ protocol: /^https?$/ }).optional(),
  FLEX_AUTH_TOKEN: z.string().min(1).optional(),
  /** Upper bound on one Flex HTTP attempt. */
  FLEX_TIMEOUT_MS: int(10_000, 1),
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
  /** A sync's lease on its crew call: the longest a crashed instance can block the next sync. */
  SYNC_LEASE_MS: int(15_000, 100),
  /** How long a sync request waits for a running sync of the same crew call before answering 409. */
  SYNC_WAIT_MS: int(30_000, 0),
})

export type Config = z.infer<typeof configSchema>

/** Flex settings when both the URL and the token are set; undefined means Flex is not configured. */
export function flexSettings(config: Config) {
  if (!config.FLEX_BASE_URL || !config.FLEX_AUTH_TOKEN) return undefined
  return { baseUrl: config.FLEX_BASE_URL, authToken: config.FLEX_AUTH_TOKEN }
}

export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** Parses the environment; throws a ConfigError naming every invalid variable. */
export function loadConfig(env: Record<string, string | undefined>): Config {
  // An empty variable means "not set", as in most shells' `VAR= command`.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''))
  const result = configSchema.safeParse(present)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)
  throw new ConfigError(`invalid configuration: ${problems.join('; ')}`)
}
