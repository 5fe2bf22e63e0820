/**
 * The process behind startThrowawayPostgres (./throwaway-postgres.ts): an embedded PostgreSQL in a new
 * temporary directory, fsync off, for as long as the process that started this one wants it. Prints
 * `{"url": ...}` (or `{"error": ...}`) as one line on stdout; stops the server and removes the
 * directory when its stdin closes, that is when the starter asks for it or ends in any way (SIGKILL
 * included: the kernel closes the pipe), or on SIGINT, SIGTERM or SIGHUP.
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts'

const dir = await mkdtemp(join(tmpdir(), 'rostersync-test-'))
await chmod(dir, 0o755) // as root, PostgreSQL runs as the postgres user and must reach its data
const started = startEmbeddedPostgres({ dataDir: join(dir, 'pg'), durable: false })

let stopping = false
const stop = (code: number) => {
  if (stopping) return
  stopping = true
  started
    .then(
      (db) => db.stop(),
      () => undefined,
    )
    .finally(() => rm(dir, { recursive: true, force: true }))
    .then(
      () => process.exit(code),
      () => process.exit(1),
    )
}

// The starter may be gone by the time the URL is written: EPIPE must not end this process unstopped.
process.stdout.on('error', () => {})
process.stdin.on('close', () => stop(0))
process.stdin.on('end', () => stop(0))
process.stdin.resume()
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => stop(0))

try {
  const { url } = await started
  process.stdout.write(`${JSON.stringify({ url })}\n`)
} catch (error) {
  process.stdout.write(
    `${JSON.stringify({ error: error instanceof Error ? error.message : String(error) })}\n`,
  )
  stop(1)
}
