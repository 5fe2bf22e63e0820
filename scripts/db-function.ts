/**
 * npm run db:function -- <name>... [--name <migration name>]
 * After editing prisma/functions/<name>.sql: writes the migration that applies it (see
 * ./function-migration.ts). --functions-dir and --migrations-dir point elsewhere (tests).
 */
import { parseArgs } from 'node:util'
import { FunctionMigrationError, writeFunctionMigration } from './function-migration.ts'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    name: { type: 'string' },
    'functions-dir': { type: 'string' },
    'migrations-dir': { type: 'string' },
  },
})

try {
  const folder = await writeFunctionMigration({
    names: positionals,
    name: values.name,
    functionsDir: values['functions-dir'],
    migrationsDir: values['migrations-dir'],
  })
  console.log(`wrote prisma/migrations/${folder}/migration.sql`)
} catch (error) {
  if (!(error instanceof FunctionMigrationError)) throw error
  console.error(`db:function: ${error.message}`)
  process.exit(1)
}
