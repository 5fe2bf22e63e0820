import { PrismaPg } from '@prisma/adapter-pg'
import type pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.ts'
import { prismaCommentPlugins } from '../telemetry/tracing.ts'
import { memoizePrismaDebugChecks } from './prisma-debug.ts'

export { Prisma } from '../generated/prisma/client.ts'
export type { PrismaClient }

type CommentPlugins = NonNullable<ConstructorParameters<typeof PrismaClient>[0]['comments']>

/**
 * A Prisma client on the app's own pool; closing the client leaves the pool to its owner. With tracing
 * on, every statement carries its traceparent as a comment (pg_stat_activity shows which trace runs it).
 */
export function createPrismaClient(pool: pg.Pool): PrismaClient {
  memoizePrismaDebugChecks()
  const comments = prismaCommentPlugins() as CommentPlugins
  return new PrismaClient({ adapter: new PrismaPg(pool), ...(comments.length > 0 && { comments }) })
}
