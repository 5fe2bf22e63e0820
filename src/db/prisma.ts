import { PrismaPg } from '@prisma/adapter-pg'
import type pg from 'pg'
import { PrismaClient } from '../generated/prisma/client.ts'

export { Prisma } from '../generated/prisma/client.ts'
export type { PrismaClient }

/** A Prisma client on the app's own pool; closing the client leaves the pool to its owner. */
export function createPrismaClient(pool: pg.Pool): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg(pool) })
}
