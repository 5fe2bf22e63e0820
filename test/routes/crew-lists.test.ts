import t from 'tap'
import { build } from '../helpers/build-app.ts'
import { crewCallUrl, putCrewCall, putTechnicians, replaceRoster, roster } from '../helpers/crew.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

const { app } = await build(t)

const get = (url: string) => app.inject({ method: 'GET', url })
const putTechnician = (id: string, name: string) =>
  app.inject({
    method: 'PUT',
    url: `/v1/technicians/${encodeURIComponent(id)}`,
    payload: { name, flexResourceId: `res-${id}` },
  })

/** Every page of a list, from the first, calling `between` after each page. */
async function walk<T>(
  firstUrl: string,
  itemsKey: string,
  between: (page: number) => Promise<unknown> = async () => {},
): Promise<T[]> {
  const items: T[] = []
  let url: string | null = firstUrl
  for (let page = 0; url !== null; page++) {
    const response = await get(url)
    if (response.statusCode !== 200) throw new Error(`${url}: ${response.statusCode} ${response.body}`)
    const body = response.json<Record<string, unknown> & { nextCursor: string | null }>()
    items.push(...(body[itemsKey] as T[]))
    await between(page)
    const next: string | null = body.nextCursor
    url =
      next === null
        ? null
        : `${firstUrl}${firstUrl.includes('?') ? '&' : '?'}cursor=${encodeURIComponent(next)}`
  }
  return items
}

t.test('GET /v1/technicians walks every technician exactly once while others are inserted', async (t) => {
  await putTechnicians(app, 25)
  const inserted: string[] = []
  const seen = await walk<{ id: string }>('/v1/technicians?limit=4', 'technicians', async (page) => {
    // One before the cursor (never shown: it sorts before this page), one after it (shown once).
    for (const id of [`tech-0-early-${page}`, `zz-late-${page}`]) {
      await putTechnician(id, `Inserted ${page}`)
      inserted.push(id)
    }
  })
  const ids = seen.map((technician) => technician.id)
  t.same(ids, [...new Set(ids)], 'no technician twice')
  for (let i = 0; i < 25; i++) t.ok(ids.includes(`tech-${i}`), `tech-${i} is listed`)
  // The last page has no page after it to show its insert.
  const late = inserted.filter((id) => id.startsWith('zz-')).slice(0, -1)
  t.same(
    late.filter((id) => ids.includes(id)),
    late,
    'technicians inserted after the cursor are listed',
  )
  const all = await walk<{ id: string }>('/v1/technicians?limit=100', 'technicians')
  t.equal(all.length, 25 + inserted.length, 'a page of 100 holds them all')
  t.match(all[0], { id: String, name: String, flexResourceId: String, createdAt: String, updatedAt: String })
})

t.test('GET /v1/technicians?q= matches id or name, ignoring case, with no wildcards', async (t) => {
  await putTechnician('q-alice', 'Alice Smith')
  await putTechnician('q-bob', 'Bob 100% Jones')
  await putTechnician('q_carol', 'Carol')
  await putTechnician('QDAVE', 'dave_x')
  const ids = async (q: string) =>
    (await walk<{ id: string }>(`/v1/technicians?limit=2&q=${encodeURIComponent(q)}`, 'technicians')).map(
      (technician) => technician.id,
    )
  t.same(await ids('SMITH'), ['q-alice'], 'by name, ignoring case')
  t.same(await ids('Q-'), ['q-alice', 'q-bob'], 'by id, ignoring case')
  t.same(await ids('%'), ['q-bob'], '% matches itself')
  t.same(await ids('_'), ['QDAVE', 'q_carol'], '_ matches itself')
  t.same(await ids('q%b'), [], 'no wildcard in the middle either')
  t.same(await ids('\\'), [], 'a backslash matches itself')
  t.same(await ids('nobody-has-this'), [])
})

t.test(
  'GET /v1/jobs/{jobId}/crew-calls: every department with its roster version and sync state',
  async (t) => {
    await putTechnicians(app, 3)
    await putCrewCall(app, 'video', 'el-video')
    await putCrewCall(app, 'sound', 'el-sound')
    await putCrewCall(app, 'lights', 'el-lights')
    await putCrewCall(app, 'sound', 'el-other-job', 'job-2')
    await replaceRoster(app, roster(2))
    const crewCalls = await walk<{ department: string; version: number; sync: { state: string } }>(
      '/v1/jobs/job-1/crew-calls?limit=2',
      'crewCalls',
    )
    t.same(
      crewCalls.map((c) => c.department),
      ['lights', 'sound', 'video'],
      'every department once, in order',
    )
    const sound = crewCalls.find((c) => c.department === 'sound')
    const single = (await get(crewCallUrl('sound'))).json()
    t.same(sound, {
      id: single.id,
      jobId: 'job-1',
      department: 'sound',
      flexElementId: 'el-sound',
      version: single.version,
      sync: single.sync,
    })
    t.equal(sound?.version, 1)
    t.equal(sound?.sync.state, 'not-configured', 'no Flex configured here')
    const unknown = await get('/v1/jobs/no-such-job/crew-calls')
    t.equal(unknown.statusCode, 404)
    t.match(unknown.headers['content-type'], PROBLEM_CONTENT_TYPE)
  },
)

t.test('GET /v1/technicians/{id}/assignments: the crew calls a technician is on', async (t) => {
  for (let job = 0; job < 5; job++) {
    for (const department of ['sound', 'lights']) {
      await putCrewCall(app, department, `el-a-${job}-${department}`, `job-a-${job}`)
      await app.inject({
        method: 'PUT',
        url: `${crewCallUrl(department, `job-a-${job}`)}/assignments/tech-1`,
        payload: { role: 'SND-FOH-R' },
      })
    }
  }
  const inserted: string[] = []
  const seen = await walk<{ jobId: string; department: string; rosterVersion: number; role: string }>(
    '/v1/technicians/tech-1/assignments?limit=3',
    'assignments',
    async (page) => {
      const jobId = `job-z-${page}`
      await putCrewCall(app, 'video', `el-z-${page}`, jobId)
      await app.inject({
        method: 'PUT',
        url: `${crewCallUrl('video', jobId)}/assignments/tech-1`,
        payload: {},
      })
      inserted.push(jobId)
    },
  )
  const keys = seen.map((a) => `${a.jobId}/${a.department}`)
  t.same(keys, [...new Set(keys)], 'no crew call twice')
  t.same(
    keys.filter((key) => key.startsWith('job-a-')),
    [0, 1, 2, 3, 4].flatMap((job) => [`job-a-${job}/lights`, `job-a-${job}/sound`]),
    'every crew call present from the start, by job then department',
  )
  t.ok(keys.includes('job-1/sound'), 'the roster replaced earlier')
  t.same(
    inserted.filter((jobId) => keys.includes(`${jobId}/video`)),
    inserted.slice(0, -1), // the last page has no page after it to show its insert
    'crew calls joined after the cursor are listed',
  )
  t.match(
    seen.find((a) => a.jobId === 'job-a-0'),
    {
      crewCallId: String,
      jobId: 'job-a-0',
      department: 'lights',
      role: 'SND-FOH-R',
      flexLineItemId: null,
      syncedAt: null,
      rosterVersion: 1,
    },
  )
  const none = await get('/v1/technicians/tech-2/assignments')
  t.same(none.json(), { assignments: [], nextCursor: null }, 'a technician on no roster')
  const unknown = await get('/v1/technicians/nobody/assignments')
  t.equal(unknown.statusCode, 404)
  t.match(unknown.json(), { type: 'urn:rostersync:problem:not-found', detail: /nobody/ })
})

t.test('hostile list input: 400 naming the query field, nothing else', async (t) => {
  const lists = [
    '/v1/technicians',
    '/v1/jobs/job-1/crew-calls',
    '/v1/technicians/tech-1/assignments',
    '/v1/sync-runs',
  ]
  const otherCursor = (await get('/v1/technicians?limit=1')).json().nextCursor as string
  for (const list of lists) {
    for (const [query, pointer] of [
      ['cursor=bogus', '/cursor'],
      [`cursor=${Buffer.from('["a","b","c"]').toString('base64url')}`, '/cursor'],
      [`cursor=${Buffer.from('{"id":1}').toString('base64url')}`, '/cursor'],
      ['limit=0', '/limit'],
      ['limit=101', '/limit'],
      ['limit=-1', '/limit'],
      ['limit=abc', '/limit'],
      ['limit=1.5', '/limit'],
      ['unknown=1', '/unknown'],
    ] as const) {
      const response = await get(`${list}?${query}`)
      t.equal(response.statusCode, 400, `${list}?${query}`)
      t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
      t.match(response.json().errors, [{ in: 'query', pointer }], `${list}?${query} names ${pointer}`)
    }
    if (list !== '/v1/technicians') {
      const foreign = await get(`${list}?cursor=${otherCursor}`)
      t.equal(foreign.statusCode, 400, `${list}: another list's cursor`)
    }
  }
  const emptyQ = await get('/v1/technicians?q=')
  t.match(emptyQ.json().errors, [{ in: 'query', pointer: '/q' }])
  const nul = await get('/v1/technicians?q=a%00b')
  t.equal(nul.statusCode, 400)
  const longCursor = await get(`/v1/technicians?cursor=${'A'.repeat(9000)}`)
  t.match(longCursor.json().errors, [{ in: 'query', pointer: '/cursor' }])
})

t.test('the longest technician ids page through; a cursor holding NUL is refused', async (t) => {
  const long = (first: string) => `${first}${'é'.repeat(1023)}`
  for (const [i, id] of [long('!'), long('"')].entries()) {
    const put = await app.inject({
      method: 'PUT',
      url: `/v1/technicians/${encodeURIComponent(id)}`,
      payload: { name: 'Long', flexResourceId: `res-long-${i}` },
    })
    t.equal(put.statusCode, 201)
  }
  const found = await walk<{ id: string }>(`/v1/technicians?limit=1&q=${'%C3%A9'.repeat(20)}`, 'technicians')
  t.same(found.map((technician) => technician.id).sort(), [long('!'), long('"')])
  const nul = Buffer.from(JSON.stringify(['a\u0000'])).toString('base64url')
  const refused = await get(`/v1/technicians?cursor=${nul}`)
  t.equal(refused.statusCode, 400)
  t.match(refused.json().errors, [{ in: 'query', pointer: '/cursor' }])
})
