import { SignJWT } from 'jose'
import t from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import { crewWorld, replaceRoster, roster, sync } from '../../helpers/crew.ts'

const SECRET = 'sync-status-test-secret-0123456789ab'
const bearer = async (role?: string) =>
  `Bearer ${await new SignJWT({ sub: 'someone', ...(role && { role }) })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET))}`

const { app } = await crewWorld(t, 3, {
  env: {
    SYNC_MAX_ATTEMPTS: '1',
    AUTH_JWT_SECRET: SECRET,
    FLEX_CALLS_PER_HOUR: '100',
    FLEX_CALLS_PER_DAY: '500',
  },
})
const status = async (authorization?: string) => {
  const response = await injectAs(app, authorization ? 'headers' : 'service', {
    method: 'GET',
    url: '/v1/sync-status',
    ...(authorization && { headers: { authorization } }),
  })
  return { statusCode: response.statusCode, body: response.json() }
}

t.test('GET /v1/sync-status counts crew calls per state and the Flex calls used and left', async (t) => {
  const before = await status()
  t.equal(before.statusCode, 200)
  t.match(before.body, {
    flexConfigured: true,
    crewCallsBySyncState: { 'in-sync': 0, pending: 1, running: 0, retrying: 0, deferred: 0, failed: 0 },
    flexCalls: {
      perHour: 100,
      perDay: 500,
      usedLastHour: 0,
      usedLastDay: 0,
      leftThisHour: 100,
      leftToday: 500,
    },
  })
  t.ok(before.body.oldestPendingChangeSeconds >= 0)
  await replaceRoster(app, roster(3))
  const run = await sync(app)
  t.equal(run.status, 200)
  const calls = run.body.run.flexCalls as number
  t.ok(calls > 0)
  const after = await status()
  t.match(after.body, {
    crewCallsBySyncState: { 'in-sync': 1, pending: 0 },
    due: 0,
    oldestPendingChangeSeconds: 0,
    flexCalls: { usedLastHour: calls, usedLastDay: calls, leftThisHour: 100 - calls, leftToday: 500 - calls },
  })
})

t.test('access crew: management may read it, a user without role gets 403', async (t) => {
  t.equal((await status(await bearer('management'))).statusCode, 200)
  t.equal((await status(await bearer())).statusCode, 403)
})
