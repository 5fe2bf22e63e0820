import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { waitFor } from './wait.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface ServerProcess {
  url: string
  port: number
  kill(signal: NodeJS.Signals): void
  running(): boolean
  /** Polls GET /health/ready until it answers 200; rejects, with the output, if the process exits first. */
  ready(timeoutMs?: number): Promise<void>
  /** Resolves with the exit code; rejects, with the output, when the process is still running after timeoutMs. */
  exitCode(timeoutMs?: number): Promise<number | null>
  /** Whether the port still accepts TCP connections. */
  listening(): Promise<boolean>
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string
}

/**
 * Runs the real entry point (node --import tsx src/server.ts) with only `env` (and PATH) in its
 * environment, on a free port. At teardown a process still running gets SIGTERM, then SIGKILL.
 */
export async function startServer(t: Teardown, env: Record<string, string>): Promise<ServerProcess> {
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const running = () => child.exitCode === null && child.signalCode === null
  const withOutput = (error: unknown) => {
    throw new Error(`${(error as Error).message}\n--- server output ---\n${output}`, { cause: error })
  }
  const url = `http://127.0.0.1:${port}`

  t.teardown(async () => {
    if (!running()) return
    child.kill('SIGTERM')
    if (await Promise.race([exited.then(() => true), delay(15_000, false, { ref: false })])) return
    child.kill('SIGKILL')
    await exited
  })

  return {
    url,
    port,
    kill: (signal) => child.kill(signal),
    running,
    ready: (timeoutMs = 30_000) =>
      Promise.race([
        waitFor(`${url}/health/ready to answer 200`, async () => (await fetch(`${url}/health/ready`)).ok, {
          timeoutMs,
          intervalMs: 100,
        }),
        exited.then((code) => {
          throw new Error(`the server exited with code ${code} before it was ready`)
        }),
      ]).then(() => undefined, withOutput),
    exitCode: (timeoutMs = 15_000) =>
      Promise.race([
        exited,
        delay(timeoutMs, undefined, { ref: false }).then(() => {
          throw new Error(`the server was still running ${timeoutMs} ms later`)
        }),
      ]).catch(withOutput),
    listening: () => acceptsConnections(port),
    output: () => output,
  }
}

/**
 * Stops a PostgreSQL left running on `dataDir` (its server was killed before it could stop it). Only
 * the postmaster whose command line names this data directory is signalled.
 */
export async function stopOrphanedPostgres(dataDir: string): Promise<void> {
  const pidFile = `${dataDir}/postmaster.pid`
  if (!existsSync(pidFile)) return
  const pid = Number((await readFile(pidFile, 'utf8')).split('\n')[0])
  const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
  if (!commandLine.includes(dataDir)) return
  process.kill(pid, 'SIGINT')
  await waitFor(`PostgreSQL (pid ${pid}) to stop`, () => !existsSync(pidFile), { timeoutMs: 15_000 })
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number }
      server.close(() => resolve(port))
    })
  })
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}
