/**
 * npm test: gives the whole tap run one PostgreSQL, then runs tap with the arguments given. It first
 * installs sdk/'s dependencies when they are missing (a fresh clone), for test/e2e/sdk.test.ts.
 * - DATABASE_URL set: test files create their databases on that server.
 * - otherwise: an embedded PostgreSQL in a temporary directory, stopped and removed afterwards (and by
 *   its helper process if this one is killed: test/helpers/throwaway-postgres.ts).
 * Each test file clones its own database from a migrated template (test/helpers/database.ts).
 * dist/ is compiled by the tests that run the built server, once per run (RS_TEST_RUN; buildServer in
 * test/helpers/server-process.ts), so a run without them compiles nothing.
 */
import { spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startThrowawayPostgres } from '../test/helpers/throwaway-postgres.ts'
import { ensureSdkDependencies } from './sdk-document.ts'

const tap = join('node_modules', '.bin', 'tap')

// tap builds its Test class from the configured plugins; .taprc drops @tapjs/typescript (its ts-node
// cannot load TypeScript 7). tap rebuilds lazily but then runs the first suite with the stale build,
// so rebuild up front when the stale plugin is still compiled in.
const built = 'node_modules/@tapjs/test/test-built/src/index.ts'
if (!existsSync(built) || readFileSync(built, 'utf8').includes('@tapjs/typescript')) {
  spawnSync(tap, ['build'], { stdio: 'ignore' })
}

// The SDK's contract check and the second generator's client (test/e2e/sdk.test.ts) need sdk/'s tools.
ensureSdkDependencies()

const env: NodeJS.ProcessEnv = { ...process.env, RS_TEST_RUN: randomBytes(8).toString('hex') }
let stopDatabase = async () => {}
if (!env.DATABASE_URL) {
  const db = await startThrowawayPostgres().catch((error: unknown) => {
    console.error(`npm test: ${error instanceof Error ? error.message : error}`)
    process.exit(1)
  })
  env.RS_TEST_PG_URL = db.url
  stopDatabase = db.stop
}

const child = spawn(tap, process.argv.slice(2), { stdio: 'inherit', env })
const forward = (signal: NodeJS.Signals) => child.kill(signal)
process.on('SIGINT', forward)
process.on('SIGTERM', forward)
const code = await new Promise<number>((resolve) => child.on('close', (status) => resolve(status ?? 1)))
await stopDatabase()
process.exit(code)
