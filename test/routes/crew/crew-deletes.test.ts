import t from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import {
  crewCallUrl,
  crewWorld,
  ELEMENT,
  putCrewCall,
  putTechnicians,
  replaceRoster,
  resourceId,
  roster,
  sync,
  technicianId,
} from '../../helpers/crew.ts'
import { withClient } from '../../helpers/database.ts'
import { PROBLEM_CONTENT_TYPE } from '../../helpers/problem.ts'

/**
 * DELETE of a crew call or a technician never leaves a Flex line without its row: refused (409, saying
 * what to do) while Flex holds or may hold lines of theirs, or a sync that may be adding one runs (409
 * with Retry-After); 204 once the roster is empty and synced.
 */
const { app, flex, databaseUrl } = await crewWorld(t, 6, { env: { SYNC_WAIT_MS: '100' } })

const query = <T>(sql: string, params: unknown[] = []) =>
  withClient(databaseUrl, async (client) => (await client.query(sql, params)).rows as T[])
const deleteCrewCall = (department = 'sound', jobId?: string, headers: Record<string, string> = {}) =>
  injectAs(app, 'service', { method: 'DELETE', url: crewCallUrl(department, jobId), headers })
const deleteTechnician = (id: string, headers: Record<string, string> = {}) =>
  injectAs(app, 'service', { method: 'DELETE', url: `/v1/technicians/${id}`, headers })

t.test('a crew call whose lines Flex holds is refused until its empty roster is synced', async (t) => {
  t.equal((await replaceRoster(app, roster(2))).statusCode, 200)
  t.equal((await sync(app)).body.run.status, 'succeeded')
  t.equal(flex.lines(ELEMENT).length, 2)

  const held = await deleteCrewCall()
  t.equal(held.statusCode, 409)
  t.match(held.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(held.json(), {
    type: 'urn:rostersync:problem:conflict',
    detail: /Flex still holds 2 crew line\(s\).*empty its roster.*sync, then delete/,
  })

  t.equal((await replaceRoster(app, [])).statusCode, 200)
  const unsynced = await deleteCrewCall()
  t.equal(unsynced.statusCode, 409, 'the roster is empty, but its lines are still in Flex')
  t.match(unsynced.json().detail, /sync it until a run succeeds/)

  t.equal((await sync(app)).body.run.status, 'succeeded')
  t.equal(flex.lines(ELEMENT).length, 0)
  const stale = await deleteCrewCall('sound', undefined, { 'if-match': '"1"' })
  t.equal(stale.statusCode, 412, 'If-Match names the roster version')
  t.equal(stale.headers.etag, '"2"')
  const deleted = await deleteCrewCall('sound', undefined, { 'if-match': '"2"' })
  t.equal(deleted.statusCode, 204)
  t.equal(deleted.body, '')
  t.equal((await injectAs(app, 'service', { method: 'GET', url: crewCallUrl() })).statusCode, 404)
  t.equal((await deleteCrewCall()).statusCode, 404, 'gone')
  t.same(await query('SELECT 1 FROM sync_runs'), [], 'its sync history went with it')
})

t.test('a crew call never synced is deleted with its line-less assignments', async (t) => {
  await putCrewCall(app, 'lights', 'el-lights')
  t.equal((await replaceRoster(app, roster(3), 'lights')).statusCode, 200)
  t.equal((await deleteCrewCall('lights')).statusCode, 204)
  t.same(await query('SELECT technician_id FROM crew_assignments'), [], 'its assignments went with it')
  t.equal((await deleteCrewCall('video', 'no-such-job')).statusCode, 404)
})

t.test('a crew call whose sync is running is refused with Retry-After', async (t) => {
  await putCrewCall(app, 'video', 'el-video')
  await query(
    `UPDATE crew_calls SET sync_lease_owner = 'elsewhere', sync_lease_until = now() + interval '7 seconds'
      WHERE department = 'video'`,
  )
  const running = await deleteCrewCall('video')
  t.equal(running.statusCode, 409)
  t.match(running.json().detail, /sync .* is running/)
  t.ok(Number(running.headers['retry-after']) >= 1 && Number(running.headers['retry-after']) <= 7)
  await query(`UPDATE crew_calls SET sync_lease_owner = NULL, sync_lease_until = NULL`)
  t.equal((await deleteCrewCall('video')).statusCode, 204)
})

t.test('DELETE takes an Idempotency-Key: a retry replays the 204', async (t) => {
  await putCrewCall(app, 'sound', 'el-idem', 'job-idem')
  const headers = { 'idempotency-key': 'delete-idem-1' }
  const first = await deleteCrewCall('sound', 'job-idem', headers)
  t.equal(first.statusCode, 204)
  const retry = await deleteCrewCall('sound', 'job-idem', headers)
  t.equal(retry.statusCode, 204)
  t.equal(retry.headers['idempotent-replayed'], 'true')
  t.equal((await deleteCrewCall('sound', 'job-idem')).statusCode, 404, 'without the key: gone')
})

t.test('a technician is deleted only off every roster and out of Flex', async (t) => {
  await putCrewCall(app)
  await replaceRoster(app, roster(2))
  t.equal((await sync(app)).body.run.status, 'succeeded')
  const id = technicianId(1)

  const onRoster = await deleteTechnician(id)
  t.equal(onRoster.statusCode, 409)
  t.match(
    onRoster.json().detail,
    /on the roster of sound crew call of job job-1, and Flex holds .*take them off/,
  )

  const url = `${crewCallUrl()}/assignments/${id}`
  t.equal((await injectAs(app, 'service', { method: 'DELETE', url })).statusCode, 204)
  const notYetSynced = await deleteTechnician(id)
  t.equal(notYetSynced.statusCode, 409, 'their line is still in Flex')
  t.match(
    notYetSynced.json().detail,
    /Flex may still hold crew lines of technician tech-1 in the sound crew call/,
  )

  t.equal((await sync(app)).body.run.status, 'succeeded')
  t.notOk(
    flex.lines(ELEMENT).some((line) => line.resourceId === resourceId(1)),
    'the sync removed their line',
  )
  const deleted = await deleteTechnician(id)
  t.equal(deleted.statusCode, 204)
  t.equal((await injectAs(app, 'service', { method: 'GET', url: `/v1/technicians/${id}` })).statusCode, 404)
  t.equal((await deleteTechnician(id)).statusCode, 404)

  t.equal(
    (
      await injectAs(app, 'service', {
        method: 'PUT',
        url: `${crewCallUrl()}/assignments/${technicianId(2)}`,
        payload: {},
      })
    ).statusCode,
    201,
  )
  const lineless = await deleteTechnician(technicianId(2))
  t.equal(lineless.statusCode, 409, 'on a roster without a line: refused too')
  t.match(lineless.json().detail, /on the roster of sound crew call of job job-1: take them off/)
  t.equal((await deleteTechnician(technicianId(5))).statusCode, 204, 'on no roster, never synced')
})

t.test('a technician is refused while a sync of a changed roster runs', async (t) => {
  await query(
    `UPDATE crew_calls SET sync_lease_owner = 'elsewhere', sync_lease_until = now() + interval '5 seconds',
            version = version + 1 WHERE department = 'sound' AND job_id = 'job-1'`,
  )
  const running = await deleteTechnician(technicianId(4))
  t.equal(running.statusCode, 409)
  t.ok(Number(running.headers['retry-after']) >= 1)
  await query(`UPDATE crew_calls SET sync_lease_owner = NULL, sync_lease_until = NULL`)
  t.equal((await deleteTechnician(technicianId(4))).statusCode, 204)
})

t.test('concurrent delete, roster replace and sync never leave a Flex line without its row', async (t) => {
  const rounds = 20
  const outcomes = new Map<string, number>()
  for (let i = 0; i < rounds; i++) {
    const jobId = `job-race-${i}`
    await putCrewCall(app, 'sound', `el-race-${i}`, jobId)
    // Each round sends the three in another order, so each gets to go first.
    const requests = [
      () => deleteCrewCall('sound', jobId),
      () =>
        injectAs(app, 'service', {
          method: 'PUT',
          url: `${crewCallUrl('sound', jobId)}/assignments`,
          payload: { assignments: [{ technicianId: technicianId(0) }, { technicianId: technicianId(2) }] },
        }),
      () => injectAs(app, 'service', { method: 'POST', url: `${crewCallUrl('sound', jobId)}/sync` }),
    ]
    const order = [0, 1, 2].map((k) => (k + i) % 3)
    const answers = await Promise.all(
      order.map((k) => (requests[k] as () => ReturnType<typeof deleteCrewCall>)()),
    )
    const byRequest = order.map((_, k) => answers[order.indexOf(k)])
    const [deleted, replaced, synced] = byRequest as [
      (typeof answers)[0],
      (typeof answers)[0],
      (typeof answers)[0],
    ]
    const key = `${deleted.statusCode}/${replaced.statusCode}/${synced.statusCode}`
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1)
    for (const response of [deleted, replaced, synced])
      t.ok(response.statusCode < 500, `no 5xx: ${response.body}`)
  }
  t.comment(`delete/replace/sync outcomes: ${JSON.stringify(Object.fromEntries(outcomes))}`)
  const remaining = await query<{ job_id: string }>(
    `SELECT job_id FROM crew_calls WHERE job_id LIKE 'job-race-%'`,
  )
  for (const { job_id } of remaining) (await sync(app, 'sound', '').catch(() => {})) && job_id
  const recorded = new Set(
    (
      await query<{ line: string }>(
        'SELECT flex_line_item_id AS line FROM crew_assignments WHERE flex_line_item_id IS NOT NULL',
      )
    ).map((row) => row.line),
  )
  const remainingJobs = new Set(remaining.map((row) => row.job_id))
  for (let i = 0; i < rounds; i++) {
    const lines = flex.lines(`el-race-${i}`)
    if (remainingJobs.has(`job-race-${i}`)) {
      t.ok(
        lines.every((line) => recorded.has(line.id)),
        `job-race-${i}: every Flex line has its row`,
      )
    } else {
      t.same(lines, [], `job-race-${i} deleted: its element holds no line`)
    }
  }
  t.same(
    await query(
      `SELECT ca.id FROM crew_assignments ca LEFT JOIN crew_calls cc ON cc.id = ca.crew_call_id WHERE cc.id IS NULL`,
    ),
    [],
    'no assignment without its crew call',
  )
})

t.test('concurrent technician delete and roster add: one wins, never a 5xx', async (t) => {
  await putTechnicians(app, 6)
  const rounds = 20
  for (let i = 0; i < rounds; i++) {
    const id = `tech-race-${i}`
    await injectAs(app, 'service', {
      method: 'PUT',
      url: `/v1/technicians/${id}`,
      payload: { name: id, flexResourceId: `res-race-${i}` },
    })
    const [deleted, added] = await Promise.all([
      deleteTechnician(id),
      injectAs(app, 'service', { method: 'PUT', url: `${crewCallUrl()}/assignments/${id}`, payload: {} }),
    ])
    t.ok(
      (deleted.statusCode === 204 && [400, 409].includes(added.statusCode)) ||
        (deleted.statusCode === 409 && added.statusCode === 201),
      `round ${i}: delete ${deleted.statusCode}, add ${added.statusCode} ${added.body}`,
    )
  }
  t.same(
    await query(
      `SELECT ca.id FROM crew_assignments ca LEFT JOIN technicians t ON t.id = ca.technician_id WHERE t.id IS NULL`,
    ),
    [],
    'no assignment without its technician',
  )
})
