import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createConnection, createServer } from 'node:net'
import { waitFor } from './wait.ts'

interface Teardown {
  teardown(fn: () => unknown): void
}

/** The machine's Redis, which .ci/run makes sure answers; tests share it under prefixes of their own. */
export const MACHINE_REDIS_URL = 'redis://127.0.0.1:6379'

export interface OwnRedis {
  url: string
  port: number
  /** Kills the server (SIGKILL) and waits for it to be gone. */
  kill(): Promise<void>
  /** Starts a fresh, empty server on the same port. */
  restart(): Promise<void>
}

async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (!address || typeof address === 'string') throw new Error('no port')
  return address.port
}

function answersOn(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port })
    socket.setTimeout(500)
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (data) => {
      socket.destroy()
      resolve(data.toString().startsWith('+PONG'))
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

/**
 * A redis-server of the test's own on a free port (a test may stop it; never the machine's), killed at
 * teardown. Nothing is persisted.
 */
export async function startOwnRedis(t: Teardown): Promise<OwnRedis> {
  const port = await freePort()
  let child: ChildProcess | undefined
  const start = async () => {
    child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--save',
        '',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      { stdio: 'ignore' },
    )
    await waitFor(`redis-server on port ${port}`, () => answersOn(port), { timeoutMs: 10_000 })
  }
  const kill = async () => {
    const running = child
    child = undefined
    if (!running || running.exitCode !== null || running.signalCode !== null) return
    const exited = once(running, 'exit')
    running.kill('SIGKILL')
    await exited
  }
  t.teardown(kill)
  await start()
  return { url: `redis://127.0.0.1:${port}`, port, kill, restart: start }
}

/** A port on which nothing listens (for "Redis unreachable from the start"). */
export async function closedPort(): Promise<number> {
  return freePort()
}
