import { spawn } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { build } from '../helpers/build-app.ts'
import { createTestDatabase } from '../helpers/database.ts'
import { startServer } from '../helpers/server-process.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SECRET = 'a-jwt-secret-of-at-least-32-bytes-0123456789'

/** Runs `npm run token` as npm does (node --import tsx scripts/token.ts) with only `env` and PATH. */
function runToken(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/token.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    child.once('error', reject)
    child.once('exit', (code) => resolve({ code, stdout, stderr }))
  })
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'token-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('default setup (no credential configured): the token is accepted by the real server', async (t) => {
  const dir = await tempDir(t)
  const env = {
    DATABASE_URL: await createTestDatabase(t),
    AUTH_SERVICE_KEY_FILE: join(dir, 'service-key'),
    AUTH_JWT_SECRET_FILE: join(dir, 'jwt-secret'),
  }
  const server = await startServer(t, env)
  await server.ready()
  t.match(server.output(), 'npm run token -- --sub <user>', 'the server says how to get a user token')
  const alice = await runToken(['--sub', 'alice'], env)
  t.equal(alice.code, 0, alice.stderr)
  const token = alice.stdout.trim()
  t.match(token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'only the token on stdout')
  const get = (path: string, bearer: string) =>
    fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${bearer}` } })
  t.equal((await get('/v1/users/alice/calendars', token)).status, 200, 'alice reads her own calendars')
  t.equal((await get('/v1/users/bob/calendars', token)).status, 403, "not someone else's")
  t.equal((await get('/v1/admin/integrity', token)).status, 403, 'no role: not an admin')
  const admin = await runToken(['--sub', 'carol', '--role', 'admin'], env)
  t.equal(admin.code, 0, admin.stderr)
  t.equal((await get('/v1/admin/integrity', admin.stdout.trim())).status, 200, 'role admin')
  t.ok(
    (await readFile(env.AUTH_JWT_SECRET_FILE, 'utf8')).trim().length >= 32,
    'the secret is kept in the file',
  )
})

t.test('with AUTH_JWT_SECRET (and an issuer) the token carries what the service checks', async (t) => {
  const env = { AUTH_JWT_SECRET: SECRET, AUTH_JWT_ISSUER: 'https://id.example' }
  const { app } = await build(t, { env })
  const minted = await runToken(['--sub', 'dave', '--role', 'admin'], env)
  t.equal(minted.code, 0, minted.stderr)
  const authorization = `Bearer ${minted.stdout.trim()}`
  t.equal(
    (await app.inject({ method: 'GET', url: '/v1/admin/integrity', headers: { authorization } })).statusCode,
    200,
  )
})

t.test('refused, with what to do: in production, without --sub, with service keys only', async (t) => {
  const dir = await tempDir(t)
  const production = await runToken(['--sub', 'alice'], {
    NODE_ENV: 'production',
    AUTH_JWT_SECRET_FILE: join(dir, 'jwt-secret'),
  })
  t.equal(production.code, 2)
  t.match(production.stderr, 'off when NODE_ENV=production')
  t.equal(production.stdout, '', 'no token')
  await t.rejects(readFile(join(dir, 'jwt-secret')), 'no secret made in production')
  const noSub = await runToken([], { AUTH_JWT_SECRET: SECRET })
  t.equal(noSub.code, 2)
  t.match(noSub.stderr, '--sub <user> is required')
  const keysOnly = await runToken(['--sub', 'alice'], { AUTH_SERVICE_KEYS: 'ci:ci-service-key-0123456789' })
  t.equal(keysOnly.code, 2)
  t.match(keysOnly.stderr, 'the service accepts no user tokens: only AUTH_SERVICE_KEYS is configured')
})

t.test('in production the server itself verifies no development token', async (t) => {
  const dir = await tempDir(t)
  const env = {
    DATABASE_URL: await createTestDatabase(t),
    AUTH_SERVICE_KEY_FILE: join(dir, 'service-key'),
    AUTH_JWT_SECRET_FILE: join(dir, 'jwt-secret'),
  }
  const minted = await runToken(['--sub', 'alice'], env)
  t.equal(minted.code, 0, minted.stderr)
  const server = await startServer(t, { ...env, NODE_ENV: 'production' })
  await server.ready()
  const response = await fetch(`${server.url}/v1/users/alice/calendars`, {
    headers: { authorization: `Bearer ${minted.stdout.trim()}` },
  })
  t.equal(response.status, 401)
  t.notMatch(server.output(), 'npm run token')
})
