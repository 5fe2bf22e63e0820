import { loadConfig } from '../config.ts'
import { startEmbeddedPostgres } from './embedded-postgres.ts'
import { migrate } from './migrate.ts'

/** npm run db:migrate: applies prisma/migrations to DATABASE_URL, or to the embedded database. */
const config = loadConfig(process.env)
const embedded = config.DATABASE_URL
  ? undefined
  : await startEmbeddedPostgres({ dataDir: config.EMBEDDED_PG_DATA_DIR, port: config.EMBEDDED_PG_PORT })
try {
  const result = await migrate(config.DATABASE_URL ?? (embedded?.url as string))
  console.log(
    result.applied.length > 0 ? `applied: ${result.applied.join(', ')}` : 'nothing to apply',
    `(${result.alreadyApplied.length} already applied)`,
  )
} catch (error) {
  console.error(error instanceof Error ? error.message : error)
  process.exitCode = 1
} finally {
  await embedded?.stop()
}
