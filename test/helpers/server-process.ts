import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { connect, createServer } from 'node:net'
import { setTimeout as delay } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { spawnWithoutTap } from './spawn-without-tap.ts'
import { waitFor } from './wait.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface ServerProcess {
  url: string
  port: number
  pid: number
  kill(signal: NodeJS.Signals): void
  running(): boolean
  /** Polls GET /health/ready until it answers 200; rejects, with the output, if the process exits first. */
  ready(timeoutMs?: number): Promise<void>
  /** Resolves with the exit code; rejects, with the output, when the process is still running after timeoutMs. */
  exitCode(timeoutMs?: number): Promise<number | null>
  /** Whether the port still accepts TCP connections. */
  listening(): Promise<boolean>
  /** Everything the process wrote to stdout and stderr so far (the last MAX_OUTPUT characters). */
  output(): string
  /** The process's peak resident set size so far (VmHWM), in bytes; undefined once it has exited. */
  peakRss(): Promise<number | undefined>
  /**
   * Resets the peak resident set size (VmHWM) to the current one (Linux: `5` into /proc/<pid>/clear_refs),
   * so peakRss() then measures one phase (e.g. after the start, whose own peak would hide it).
   */
  resetPeakRss(): Promise<void>
}

export interface StartServerOptions {
  /** Run the compiled dist/src/server.js (buildServer() first) instead of src/server.ts with tsx. */
  built?: boolean
  /** The port to listen on (a restart on the port of a killed process); a free one otherwise. */
  port?: number
  /** Arguments after the entry point, e.g. ['--worker']. */
  args?: string[]
  /** Node.js flags before the entry point, e.g. heap limits. */
  nodeArgs?: string[]
}

/** The compiled entry point `npm run build` writes. */
export const BUILT_SERVER = 'dist/src/server.js'
const MAX_OUTPUT = 1_000_000

/**
 * Runs the real entry point (node --import tsx src/server.ts, or the built dist/src/server.js) with
 * only `env` (and PATH) in its environment; SHUTDOWN_DRAIN_MS is 0 unless `env` sets it. At teardown
 * a process still running gets SIGTERM, then SIGKILL.
 */
export async function startServer(
  t: Teardown,
  env: Record<string, string>,
  options: StartServerOptions = {},
): Promise<ServerProcess> {
  const port = options.port ?? (await freePort())
  const entry = options.built ? ['--enable-source-maps', BUILT_SERVER] : ['--import', 'tsx', 'src/server.ts']
  const args = [...(options.nodeArgs ?? []), ...entry, ...(options.args ?? [])]
  // The built server is the service as shipped (its memory is measured): without tap's --import
  // (@tapjs/processinfo), which would add its loader thread, an isolate of its own, to the process.
  const child = (options.built ? spawnWithoutTap : spawn)(process.execPath, args, {
    cwd: ROOT,
    // No drain unless a test asks for one: the tests that stop a server need not wait SHUTDOWN_DRAIN_MS.
    env: { PATH: process.env.PATH, LOG_LEVEL: 'info', PORT: String(port), SHUTDOWN_DRAIN_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const collect = (chunk: Buffer) => {
    output += chunk
    if (output.length > MAX_OUTPUT) output = output.slice(-MAX_OUTPUT / 2)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)
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
    pid: child.pid as number,
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
    peakRss: () => (running() ? peakRssOf(child.pid as number) : Promise.resolve(undefined)),
    resetPeakRss: () => writeFile(`/proc/${child.pid}/clear_refs`, '5'),
  }
}

/** VmHWM of a running process (Linux), in bytes; undefined when it cannot be read. */
export async function peakRssOf(pid: number): Promise<number | undefined> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '')
  const kilobytes = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1]
  return kilobytes === undefined ? undefined : Number(kilobytes) * 1024
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

let building: Promise<void> | undefined

const DIST = `${ROOT}dist`
/** Holds the RS_TEST_RUN dist/ was last compiled for. */
const BUILT_FOR_RUN = `${DIST}/.built-for-run`
const BUILD_LOCK = `${DIST}/.build-lock`

/**
 * Compiles src/ to dist/ (what `npm run build` does after `npm run db:generate`), so
 * startServer(..., { built: true }) runs the code as shipped. The Prisma client must be generated.
 * Only what runs the built server calls it (the chaos suite, the memory bench), so a test run without
 * them compiles nothing. Once per process; under npm test once per run: scripts/test.ts names the run
 * in RS_TEST_RUN, and test files after the first find dist/ built for it. Test files run in parallel,
 * so a lock directory keeps two compiles from writing dist/ at once. RS_SERVER_BUILT=1 says dist/ is
 * built already.
 */
export function buildServer(): Promise<void> {
  if (process.env.RS_SERVER_BUILT === '1') return Promise.resolve()
  building ??= withBuildLock(async () => {
    const run = process.env.RS_TEST_RUN
    if (run && (await readFile(BUILT_FOR_RUN, 'utf8').catch(() => '')) === run) return
    await compile()
    if (run) await writeFile(BUILT_FOR_RUN, run)
  })
  return building
}

function compile(): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const tsc = spawnWithoutTap(`${ROOT}node_modules/.bin/tsc`, ['-p', 'tsconfig.build.json'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    tsc.stdout?.on('data', (chunk: Buffer) => (output += chunk))
    tsc.stderr?.on('data', (chunk: Buffer) => (output += chunk))
    tsc.once('error', reject)
    tsc.once('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`tsc -p tsconfig.build.json exited ${code}\n${output}`)),
    )
  })
}

/** Runs `work` holding dist/.build-lock (a directory: mkdir is atomic), taking over one its holder left. */
async function withBuildLock<T>(work: () => Promise<T>): Promise<T> {
  await mkdir(DIST, { recursive: true })
  await waitFor(
    'the lock on dist/ (another test process compiling)',
    async () => {
      try {
        await mkdir(BUILD_LOCK)
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
        if (await lockAbandoned()) await rm(BUILD_LOCK, { recursive: true, force: true })
        return false
      }
      await writeFile(`${BUILD_LOCK}/pid`, String(process.pid))
      return true
    },
    { timeoutMs: 180_000, intervalMs: 100 },
  )
  try {
    return await work()
  } finally {
    await rm(BUILD_LOCK, { recursive: true, force: true })
  }
}

/** The holder is gone, or never wrote its pid (it died between mkdir and writing it). */
async function lockAbandoned(): Promise<boolean> {
  const pid = Number(await readFile(`${BUILD_LOCK}/pid`, 'utf8').catch(() => ''))
  if (!pid) {
    const since = await stat(BUILD_LOCK).then(
      (lock) => Date.now() - lock.mtimeMs,
      () => 0,
    )
    return since > 10_000
  }
  try {
    process.kill(pid, 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}
