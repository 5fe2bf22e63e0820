import fp from 'fastify-plugin'
import type pg from 'pg'
import type { Config } from '../config.ts'
import { pendingMigrations } from '../db/migrate.ts'
import { readMigrations } from '../db/migrations.ts'
import { createPool, markClosing } from '../db/pool.ts'
import { createPrismaClient, type PrismaClient } from '../db/prisma.ts'

export interface Database {
  prisma: PrismaClient
  pool: pg.Pool
  /** The migrations of prisma/migrations not applied to the database: readiness asks this. */
  pendingMigrations(): Promise<string[]>
}

declare module 'fastify' {
  interface FastifyInstance {
    db: Database
  }
}

interface DatabasePluginOptions {
  config: Config
}

/**
 * The app's pool and Prisma client on config.DATABASE_URL (src/server.ts resolves the embedded
 * database first). Closed when the app closes, after in-flight requests have finished.
 */
export default fp<DatabasePluginOptions>(
  async function databasePlugin(app, { config }) {
    if (!config.DATABASE_URL) throw new Error('buildApp needs config.DATABASE_URL')
    const pool = createPool(config.DATABASE_URL, config, app.log)
    const prisma = createPrismaClient(pool)
    const migrations = await readMigrations()
    app.decorate('db', {
      prisma,
      pool,
      // The migration runner's own table, read as the runner reads it (pg): Prisma has no model for it.
      pendingMigrations: () =>
        pendingMigrations(
          async (sql) => (await pool.query<{ migration_name: string }>(sql)).rows,
          migrations,
        ),
    })
    // From the first moment of shutdown (the signal may stop an embedded PostgreSQL at the same time),
    // closed connections are expected, not warnings. Prisma lets go of the pool first, then the pool ends.
    app.addHook('preClose', async () => markClosing(pool))
    app.addHook('onClose', async () => {
      await prisma.$disconnect()
      await pool.end()
    })
  },
  { name: 'database' },
)
