/**
 * npm test: gives the whole tap run one PostgreSQL, then runs tap with the arguments given.
 * - DATABASE_URL set: test files create their databases on that server.
 * - otherwise: an embedded PostgreSQL in a temporary directory, stopped and removed afterwards.
 * Each test file clones its own database from a migrated template (test/helpers/database.ts).
 */
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts'

const tap = join('node_modules', '.bin', 'tap')

// tap builds its Test class from the configured plugins; .taprc drops @tapjs/typescript (its ts-node
// cannot load TypeScript 7). tap rebuilds lazily but then runs the first suite with the stale build,
// so rebuild up front when the stale plugin is still compiled in.
const built = 'node_modules/@tapjs/test/test-built/src/index.ts'
if (!existsSync(built) || readFileSync(built, 'utf8').includes('@tapjs/typescript')) {
  spawnSync(tap, ['build'], { stdio: 'ignore' })
}

// The chaos suite runs the built server (dist/src/server.js): compile it here, outside tap, whose
// process-info hook cannot load TypeScript 7's launcher (test/helpers/server-process.ts).
const compiled = spawnSync(join('node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json'], {
  stdio: 'inherit',
})
if (compiled.status !== 0) {
  console.error('tsc -p tsconfig.build.json failed: the built server the chaos suite runs is missing')
  process.exit(1)
}

const env: NodeJS.ProcessEnv = { ...process.env, RS_SERVER_BUILT: '1' }
let stopDatabase = async () => {}
if (!env.DATABASE_URL) {
  const dir = await mkdtemp(join(tmpdir(), 'rostersync-test-'))
  await chmod(dir, 0o755) // as root, PostgreSQL runs as the postgres user and must reach its data
  const db = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), durable: false })
  env.RS_TEST_PG_URL = db.url
  stopDatabase = async () => {
    await db.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

const child = spawn(tap, process.argv.slice(2), { stdio: 'inherit', env })
const forward = (signal: NodeJS.Signals) => child.kill(signal)
process.on('SIGINT', forward)
process.on('SIGTERM', forward)
const code = await new Promise<number>((resolve) => child.on('close', (status) => resolve(status ?? 1)))
await stopDatabase()
process.exit(code)
