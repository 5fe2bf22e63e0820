import type pg from 'pg'
import { inSpan, traceHeaders } from '../telemetry/tracing.ts'

/**
 * One statement on the app's pool through node-postgres itself, for a call whose parameter is a request
 * body of megabytes (a set of 10,000 calendars) handed to PostgreSQL as it came: a Buffer, sent as a
 * bytea parameter in binary format. Through Prisma the same parameter would be a string, serialized
 * with the other parameters to JSON and parsed back (two more copies of the body on the heap, held while
 * the statement runs), and a Buffer would travel as base64. Every other statement goes through Prisma.
 *
 * The pool is Prisma's own (src/db/prisma.ts), so its timeouts hold (statement_timeout, lock_timeout);
 * errors are node-postgres's, which src/db/database-errors.ts reads as it reads Prisma's. Traced like
 * Prisma's statements: a client span with the statement's text, and the traceparent as a comment so
 * pg_stat_activity shows which trace runs it.
 */
export class BodyStatements {
  constructor(private readonly pool: pg.Pool) {}

  query<Row extends pg.QueryResultRow>(text: string, values: unknown[]): Promise<Row[]> {
    return inSpan(
      'db_query',
      { kind: 'client', attributes: { 'db.system.name': 'postgresql', 'db.query.text': text } },
      async () => {
        const { traceparent } = traceHeaders()
        const sql = traceparent ? `${text} /*traceparent='${traceparent}'*/` : text
        return (await this.pool.query<Row>(sql, values)).rows
      },
    )
  }
}
