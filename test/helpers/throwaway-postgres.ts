import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { fileURLToPath } from 'node:url'
import { spawnWithoutTap } from './spawn-without-tap.ts'

export interface ThrowawayPostgres {
  /** Superuser URL of the cluster's `postgres` database. */
  url: string
  /** Stops the server and removes its directory; resolves once both are done. */
  stop(): Promise<void>
}

const PROCESS = fileURLToPath(new URL('./throwaway-postgres-process.ts', import.meta.url))
const START_TIMEOUT_MS = 60_000

/**
 * An embedded PostgreSQL (fsync off, in a temporary directory) that cannot outlive this process: it runs
 * under a helper process of its own (./throwaway-postgres-process.ts) that stops it and removes its
 * directory when this process closes the helper's stdin, by stop() or by ending in any way, a SIGKILL
 * or a tap timeout included (a Ctrl-C reaches the helper too, which stops it the same way). Once
 * started, it holds nothing that keeps this event loop alive.
 */
export async function startThrowawayPostgres(): Promise<ThrowawayPostgres> {
  const child = spawnWithoutTap(process.execPath, ['--import', import.meta.resolve('tsx'), PROCESS], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  let url: string
  try {
    url = await readUrl(child)
  } catch (error) {
    child.kill('SIGTERM')
    throw error
  }
  child.stdout?.destroy()
  child.stderr?.destroy()
  ;(child.stdin as unknown as Socket).unref()
  child.unref()
  let stopping: Promise<void> | undefined
  return {
    url,
    stop: () => {
      stopping ??= (async () => {
        child.ref() // wait for it: the process may have nothing else to do
        child.stdin?.end()
        await exited
      })()
      return stopping
    },
  }
}

function readUrl(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let stdout = ''
    let stderr = ''
    const fail = (why: string) => {
      clearTimeout(timer)
      reject(new Error(`the embedded PostgreSQL for the tests did not start: ${why}\n${stderr}`.trimEnd()))
    }
    const timer = setTimeout(() => fail(`no answer within ${START_TIMEOUT_MS} ms`), START_TIMEOUT_MS)
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr += chunk
    })
    child.stdout?.on('data', (chunk: Buffer) => {
      stdout += chunk
      const end = stdout.indexOf('\n')
      if (end === -1) return
      clearTimeout(timer)
      const answer = JSON.parse(stdout.slice(0, end)) as { url?: string; error?: string }
      if (answer.url) resolve(answer.url)
      else fail(answer.error ?? 'no URL')
    })
    child.once('error', (error) => fail(error.message))
    child.once('exit', (code, signal) => fail(`its process exited (${signal ?? `code ${code}`})`))
  })
}
