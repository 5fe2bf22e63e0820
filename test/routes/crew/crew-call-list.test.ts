import { SignJWT } from 'jose'
import t from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import { crewWorld, putCrewCall, roster } from '../../helpers/crew.ts'
import { PROBLEM_CONTENT_TYPE } from '../../helpers/problem.ts'

const SECRET = 'crew-call-list-test-secret-0123456789'
const bearer = async (role?: string) =>
  `Bearer ${await new SignJWT({ sub: 'someone', ...(role && { role }) })
    .setProtectedHeader({ alg: 'HS256' })
    .setExpirationTime('5m')
    .sign(new TextEncoder().encode(SECRET))}`

// One failed run marks a crew call failed, so the test need not run ten.
const { app, flex } = await crewWorld(t, 3, { env: { SYNC_MAX_ATTEMPTS: '1', AUTH_JWT_SECRET: SECRET } })
const get = (url: string, authorization?: string) =>
  injectAs(app, authorization ? 'headers' : 'service', {
    method: 'GET',
    url,
    ...(authorization && { headers: { authorization } }),
  })

interface Listed {
  id: string
  jobId: string
  department: string
  version: number
  sync: { state: string; lastError: string | null; attempts: number; syncedVersion: number | null }
}
interface Page {
  crewCalls: Listed[]
  nextCursor: string | null
}

/**
 * crewWorld's job-1 (empty, never synced), then crew calls on six more jobs: job-a..job-e synced in
 * that order (job-e last), job-c's run failed, job-f never synced.
 */
t.before(async () => {
  for (const [i, job] of ['job-a', 'job-b', 'job-c', 'job-d', 'job-e', 'job-f'].entries()) {
    await putCrewCall(app, 'sound', `element-${job}`, job)
    const put = await injectAs(app, 'service', {
      method: 'PUT',
      url: `/v1/jobs/${job}/crew-calls/sound/assignments`,
      payload: { assignments: roster(1 + (i % 3)) },
    })
    if (put.statusCode !== 200) throw new Error(`roster ${job}: ${put.body}`)
  }
  for (const job of ['job-a', 'job-b', 'job-c', 'job-d', 'job-e']) {
    if (job === 'job-c') flex.fail('list', { status: 500, times: 3 })
    const response = await injectAs(app, 'service', {
      method: 'POST',
      url: `/v1/jobs/${job}/crew-calls/sound/sync`,
    })
    if (response.statusCode !== 200) throw new Error(`sync ${job}: ${response.statusCode} ${response.body}`)
  }
})

t.test('GET /v1/crew-calls lists every crew call across jobs, newest activity first', async (t) => {
  const response = await get('/v1/crew-calls')
  t.equal(response.statusCode, 200)
  const { crewCalls, nextCursor } = response.json<Page>()
  t.equal(nextCursor, null)
  t.same(
    crewCalls.map((crewCall) => crewCall.jobId),
    ['job-e', 'job-d', 'job-c', 'job-b', 'job-a', 'job-f', 'job-1'],
    'by their last run, newest first, then those never synced by creation, newest first',
  )
  const failed = crewCalls.find((crewCall) => crewCall.jobId === 'job-c')
  t.match(failed?.sync, { state: 'failed', attempts: 1, lastError: /500/ }, 'with its error')
  t.match(crewCalls.find((crewCall) => crewCall.jobId === 'job-a')?.sync, {
    state: 'in-sync',
    syncedVersion: 1,
    lastError: null,
  })
})

t.test('?state= keeps one state; the failed crew call is found with its reason', async (t) => {
  const failed = (await get('/v1/crew-calls?state=failed')).json<Page>()
  t.same(
    failed.crewCalls.map((crewCall) => [crewCall.jobId, crewCall.sync.state]),
    [['job-c', 'failed']],
  )
  const pending = (await get('/v1/crew-calls?state=pending')).json<Page>()
  t.same(
    pending.crewCalls.map((crewCall) => crewCall.jobId),
    ['job-f', 'job-1'],
  )
  t.same((await get('/v1/crew-calls?state=running')).json<Page>().crewCalls, [])
})

t.test('pages walk every crew call exactly once, even when one runs again between pages', async (t) => {
  const seen: string[] = []
  let url: string | null = '/v1/crew-calls?limit=2'
  for (let page = 0; url !== null; page++) {
    const response = await get(url)
    t.equal(response.statusCode, 200)
    const body: Page = response.json<Page>()
    t.ok(body.crewCalls.length <= 2)
    seen.push(...body.crewCalls.map((crewCall) => crewCall.jobId))
    // job-e, shown on the first page, runs again: it moves to the front and is not shown twice.
    if (page === 0)
      await injectAs(app, 'service', { method: 'POST', url: '/v1/jobs/job-e/crew-calls/sound/sync' })
    url =
      body.nextCursor === null ? null : `/v1/crew-calls?limit=2&cursor=${encodeURIComponent(body.nextCursor)}`
  }
  t.same(seen, [...new Set(seen)], 'none twice')
  t.same([...seen].sort(), ['job-1', 'job-a', 'job-b', 'job-c', 'job-d', 'job-e', 'job-f'], 'all of them')
})

t.test('bad input is a 400 naming the query parameter', async (t) => {
  for (const [query, pointer] of [
    ['state=broken', '/state'],
    ['limit=0', '/limit'],
    ['cursor=nonsense', '/cursor'],
    [`cursor=${Buffer.from(JSON.stringify(['not a time', 'x'])).toString('base64url')}`, '/cursor'],
    ['colour=red', ''],
  ] as const) {
    const response = await get(`/v1/crew-calls?${query}`)
    t.equal(response.statusCode, 400, query)
    t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
    if (pointer !== '') t.match(response.json(), { errors: [{ in: 'query', pointer }] }, query)
  }
})

t.test('access crew: a management user may list, a user without role gets 403', async (t) => {
  t.equal((await get('/v1/crew-calls', await bearer('management'))).statusCode, 200)
  const refused = await get('/v1/crew-calls', await bearer())
  t.equal(refused.statusCode, 403)
  t.match(refused.headers['content-type'], PROBLEM_CONTENT_TYPE)
})
