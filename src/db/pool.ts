import pg from 'pg'
import type { Config } from '../config.ts'

interface PoolLogger {
  warn(obj: object, msg: string): void
  debug?(obj: object, msg: string): void
}

type PoolSettings = Pick<
  Config,
  | 'DB_POOL_MAX'
  | 'DB_CONNECT_TIMEOUT_MS'
  | 'DB_STATEMENT_TIMEOUT_MS'
  | 'DB_LOCK_TIMEOUT_MS'
  | 'DB_IDLE_IN_TRANSACTION_TIMEOUT_MS'
>

/**
 * The one pg pool of an app instance. Every wait is bounded: getting a connection
 * (connectionTimeoutMillis), a statement, a lock, and a transaction left idle. PostgreSQL can terminate
 * any connection (restart, failover, pg_terminate_backend); node-postgres then emits `error` on the
 * pool and on the client, and an unhandled one would crash the process, so both are handled here and
 * the query in flight fails with an error the error plugin answers as 503.
 */
export function createPool(connectionString: string, settings: PoolSettings, log: PoolLogger): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: settings.DB_POOL_MAX,
    connectionTimeoutMillis: settings.DB_CONNECT_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    application_name: 'rostersync',
    statement_timeout: settings.DB_STATEMENT_TIMEOUT_MS,
    lock_timeout: settings.DB_LOCK_TIMEOUT_MS,
    idle_in_transaction_session_timeout: settings.DB_IDLE_IN_TRANSACTION_TIMEOUT_MS,
    // Services rely on READ COMMITTED (src/db/transaction.ts), whatever the server's default.
    options: '-c default_transaction_isolation=read\\ committed',
  })
  const onError = (err: Error) => {
    // Only what the error says: pg-pool attaches the whole client (`err.client`, kilobytes of internals).
    const details = { err: connectionErrorDetails(err) }
    if (closingPools.has(pool)) log.debug?.(details, 'database connection closed during shutdown')
    else log.warn(details, 'database connection error')
  }
  pool.on('error', onError)
  pool.on('connect', (client) => client.on('error', onError))
  return pool
}

const closingPools = new WeakSet<pg.Pool>()

/**
 * Says the pool's owner is shutting down: connections closing now (an embedded PostgreSQL stopping on the
 * same Ctrl-C, or ending the pool) are expected and logged at debug level, not as warnings.
 */
export function markClosing(pool: pg.Pool): void {
  closingPools.add(pool)
}

/** A connection error as a log may show it: type, message, SQLSTATE; never the client it came from. */
export function connectionErrorDetails(err: Error): { type: string; message: string; code?: string } {
  const code = (err as { code?: unknown }).code
  return { type: err.name, message: err.message, ...(typeof code === 'string' && { code }) }
}
