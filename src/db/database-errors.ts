import {
  ConflictError,
  type DomainError,
  IdempotencyKeyInUseError,
  ServiceUnavailableError,
} from '../errors/domain-errors.ts'

/**
 * The one module that reads Prisma error codes, driver-adapter causes and PostgreSQL SQLSTATEs.
 * Under @prisma/adapter-pg a failure arrives as one of:
 * - PrismaClientKnownRequestError P2010 (raw query) with meta.driverAdapterError.cause.{code,originalCode};
 * - PrismaClientKnownRequestError P2002 (unique violation from a model query), P2028 (transaction could
 *   not start within maxWait), P2034 (write conflict or deadlock);
 * - DriverAdapterError with the same `cause`, with no Prisma code;
 * - a plain node-postgres Error (pool timeout, terminated connection) or pg DatabaseError with `code`.
 */

/** SQLSTATEs after which the same request may succeed later: answered 503 with Retry-After. */
const UNAVAILABLE_SQLSTATES = new Set([
  '55P03', // lock_not_available (lock_timeout)
  '57014', // query_canceled (statement_timeout)
  '57P01', // admin_shutdown (pg_terminate_backend, restart)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '53400', // configuration_limit_exceeded
  '25P03', // idle_in_transaction_session_timeout
  '40001', // serialization_failure, once retries are spent
  '40P01', // deadlock_detected, once retries are spent
])
const UNAVAILABLE_PRISMA_CODES = new Set([
  'P1001', // can't reach the database server
  'P1002', // the database server timed out
  'P1008', // operations timed out
  'P1017', // the server closed the connection
  'P2024', // timed out fetching a connection from the pool
  'P2028', // transaction API error (e.g. could not start within maxWait)
  'P2034', // write conflict or deadlock, once retries are spent
  'P2037', // too many database connections
])
/** Driver-adapter error kinds (DriverAdapterError.cause.kind) after which a retry may succeed. */
const UNAVAILABLE_ADAPTER_KINDS = new Set([
  'ConnectionClosed',
  'DatabaseNotReachable',
  'SocketTimeout',
  'TooManyConnections',
  'TransactionAlreadyClosed',
])
const RETRYABLE_SQLSTATES = new Set(['40001', '40P01'])
const CONNECTION_FAILURE =
  /timeout exceeded when trying to connect|Connection terminated|connection error|not queryable|closed the connection|Can't reach database server|ECONNREFUSED|ECONNRESET|EPIPE/i

interface ErrorLike {
  code?: unknown
  message?: unknown
  meta?: { driverAdapterError?: { cause?: AdapterCause } }
  cause?: unknown
}
interface AdapterCause {
  code?: unknown
  originalCode?: unknown
  kind?: unknown
}

/** The PostgreSQL SQLSTATE behind an error, wherever Prisma or the driver put it. */
function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const e = error as ErrorLike
  const cause = e.meta?.driverAdapterError?.cause ?? (e.cause as AdapterCause | undefined)
  for (const candidate of [cause?.originalCode, cause?.code, e.code]) {
    if (typeof candidate === 'string' && /^[0-9A-Z]{5}$/.test(candidate)) return candidate
  }
  return undefined
}

/** Prisma's P2025: the record a `delete` or `update` named does not exist. */
export function isRecordNotFound(error: unknown): boolean {
  return prismaCode(error) === 'P2025'
}

function prismaCode(error: unknown): string | undefined {
  const code = (error as ErrorLike | null)?.code
  return typeof code === 'string' && /^P\d{4}$/.test(code) ? code : undefined
}

/** The driver adapter's error kind (ConnectionClosed, SocketTimeout, ...), wherever Prisma put it. */
function adapterKind(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined
  const e = error as ErrorLike
  const kind = (e.meta?.driverAdapterError?.cause ?? (e.cause as AdapterCause | undefined))?.kind
  return typeof kind === 'string' ? kind : undefined
}

/** Serialization failures and deadlocks: the only failures a transaction is retried for. */
export function isRetryableTransactionError(error: unknown): boolean {
  const state = sqlState(error)
  return (state !== undefined && RETRYABLE_SQLSTATES.has(state)) || prismaCode(error) === 'P2034'
}

/**
 * Raised by an SQL function that stores a request's response under its Idempotency-Key
 * (replace_calendar_set) when a retry took the key over: the statement, and so the write, rolled back.
 */
const KEY_TAKEN_OVER = 'RSK01'

/** Maps a database failure to the domain error the client should see; undefined when it is a bug. */
export function toDomainError(error: unknown): DomainError | undefined {
  const state = sqlState(error)
  const code = prismaCode(error)
  if (
    (state && UNAVAILABLE_SQLSTATES.has(state)) ||
    state?.startsWith('08') ||
    (code && UNAVAILABLE_PRISMA_CODES.has(code)) ||
    UNAVAILABLE_ADAPTER_KINDS.has(adapterKind(error) ?? '')
  ) {
    return new ServiceUnavailableError('the database is busy or restarting; retry shortly', { cause: error })
  }
  if (state === KEY_TAKEN_OVER) {
    return new IdempotencyKeyInUseError(
      "this request's hold on its Idempotency-Key lapsed and a retry took the key over; nothing was written",
      { retryAfterSeconds: 1, cause: error },
    )
  }
  if (state === '23505' || code === 'P2002') {
    return new ConflictError('a concurrent change conflicted with this request; retry it', { cause: error })
  }
  // A row this request refers to was deleted meanwhile (a technician deleted while a roster write that
  // found them was adding them): nothing was written, and a retry names what is missing.
  if (state === '23503' || code === 'P2003') {
    return new ConflictError('something this request refers to was deleted meanwhile; retry it', {
      cause: error,
    })
  }
  const message = (error as ErrorLike | null)?.message
  if (typeof message === 'string' && CONNECTION_FAILURE.test(message)) {
    return new ServiceUnavailableError('the database connection failed; retry shortly', { cause: error })
  }
  return undefined
}
