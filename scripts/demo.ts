/**
 * npm run demo: rostersync working in one command, for a newcomer. Starts a fake Flex and the service
 * (on its own embedded PostgreSQL in .data/demo/, so the demo's rows never mix with yours), seeds a
 * user's calendars, three technicians and a crew call with a roster, syncs it with the fake Flex, and
 * prints what to look at: the console, the roster's history, the sync run (with its notes), as URLs and
 * curl commands. Runs until Ctrl-C. With `--exit` it stops once it has printed (for tests and CI).
 * Environment: as the service (PORT, HOST, LOG_LEVEL, ...); DEMO_DATA_DIR (default .data/demo) holds
 * the demo's database and keys.
 */
import { existsSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { buildApp } from '../src/app.ts'
import { mintDevelopmentToken } from '../src/auth/development-token.ts'
import { readOrCreateServiceKey } from '../src/auth/service-key-file.ts'
import { type Config, loadConfig } from '../src/config.ts'
import { startEmbeddedPostgres } from '../src/db/embedded-postgres.ts'
import { migrate } from '../src/db/migrate.ts'
import { startFakeFlex } from '../test/helpers/fake-flex.ts'
import { buildConsole, CONSOLE_OUT_DIR } from './build-console.ts'

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..')
const JOB = 'demo-job'
const DEPARTMENT = 'sound'
const USER = 'alice'
/** Business roles the demo's Flex knows: tiers R and E of sound. Tier T is left out, so a note shows why. */
const BUSINESS_ROLES = { [DEPARTMENT]: { R: 'br-sound-lead', E: 'br-sound-engineer' } }
const TECHNICIANS = [
  { id: 'tech-ana', name: 'Ana Lead', resource: 'res-ana', role: 'SND-FOH-R' },
  { id: 'tech-ben', name: 'Ben Monitors', resource: 'res-ben', role: 'SND-MON-E' },
  { id: 'tech-cy', name: 'Cy Stagehand', resource: 'res-cy', role: 'SND-ST-T' },
]

const exitWhenPrinted = process.argv.includes('--exit')
const dataDir = resolve(process.env.DEMO_DATA_DIR || join(ROOT, '.data', 'demo'))
const base = loadConfig(process.env)
const flex = await startFakeFlex({ token: 'demo-flex-token' })
const serviceKey = await readOrCreateServiceKey(join(dataDir, 'service-key'))
const database = await startEmbeddedPostgres({ dataDir: join(dataDir, 'postgres') })
const config: Config = {
  ...base,
  DATABASE_URL: database.url,
  FLEX_BASE_URL: flex.url,
  FLEX_AUTH_TOKEN: flex.token,
  FLEX_BUSINESS_ROLES: BUSINESS_ROLES,
  CREW_DEPARTMENTS: [...new Set([...base.CREW_DEPARTMENTS, DEPARTMENT])],
  AUTH_SERVICE_KEYS: [{ name: 'demo', key: serviceKey.key }],
  AUTH_JWT_SECRET: (await readOrCreateServiceKey(join(dataDir, 'jwt-secret'), 'JWT secret')).key,
  LOG_LEVEL: process.env.LOG_LEVEL ? base.LOG_LEVEL : 'warn',
}
if (!existsSync(join(CONSOLE_OUT_DIR, 'index.html'))) await buildConsole()
await migrate(database.url)
const app = await buildApp(config)
const stop = async () => {
  await app.close()
  await flex.close()
  await database.stop()
}
try {
  await app.listen({ host: config.HOST, port: config.PORT })
  const origin = `http://${config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST}:${config.PORT}`
  const call = async (method: string, path: string, body?: unknown, token = serviceKey.key) => {
    const response = await fetch(`${origin}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.text()
    if (!response.ok) throw new Error(`${method} ${path}: HTTP ${response.status} ${text}`)
    return JSON.parse(text) as Record<string, unknown>
  }
  const userToken = await mintDevelopmentToken(config, { sub: USER, ttlSeconds: 8 * 3600 })
  await call(
    'PUT',
    `/v1/users/${USER}/calendars`,
    {
      calendars: [
        { calendarId: 'alice-work', summary: 'Work', timeZone: 'Europe/Berlin' },
        { calendarId: 'alice-tours', summary: 'Tours', timeZone: 'Europe/Berlin' },
      ],
    },
    userToken,
  )
  for (const technician of TECHNICIANS)
    await call('PUT', `/v1/technicians/${technician.id}`, {
      name: technician.name,
      flexResourceId: technician.resource,
    })
  const crewCall = `/v1/jobs/${JOB}/crew-calls/${DEPARTMENT}`
  await call('PUT', crewCall, { flexElementId: 'demo-element' })
  await call('PUT', `${crewCall}/assignments`, {
    assignments: TECHNICIANS.map((technician) => ({ technicianId: technician.id, role: technician.role })),
  })
  const { run } = (await call('POST', `${crewCall}/sync`)) as {
    run: {
      id: string
      status: string
      added: string[]
      repaired: string[]
      rolesSet: string[]
      notes: string[]
    }
  }
  const keyFile = serviceKey.file
  console.log(`
rostersync demo: running on ${origin} with a fake Flex on ${flex.url}

Seeded: user ${USER}'s calendars (2), technicians ${TECHNICIANS.map((t) => t.id).join(', ')},
the ${DEPARTMENT} crew call of job ${JOB} with all three on its roster; then synced it with Flex:
  sync run ${run.id}: ${run.status}, ${run.added.length + run.repaired.length} crew lines added in Flex, roles set for ${run.rolesSet.join(', ') || 'nobody'}
${run.notes.map((note) => `  note: ${note}`).join('\n')}

Look at:
  the console     ${origin}/console/#/crew-calls/${JOB}/${DEPARTMENT}   (sign in with the key in ${keyFile})
  the sync run    curl -H "authorization: Bearer $(cat ${keyFile})" '${origin}/v1/sync-runs?jobId=${JOB}'
  the history     curl -H "authorization: Bearer $(cat ${keyFile})" '${origin}${crewCall}/assignments/history'
  Flex's lines    curl -H "x-auth-token: ${flex.token}" '${flex.url}/line-item/demo-element/row-data'
  alice's own     curl -H "authorization: Bearer ${userToken}" '${origin}/v1/users/${USER}/calendars'
  the API         ${origin}/docs

Change the roster (PUT ${crewCall}/assignments) and watch the worker sync it within seconds.
${exitWhenPrinted ? 'Stopping (--exit).' : `Ctrl-C stops the demo (its data stays in ${dataDir}).`}`)
} catch (error) {
  await stop()
  throw error
}
if (exitWhenPrinted) await stop()
else {
  const onSignal = () => {
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
}
