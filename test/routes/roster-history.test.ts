import fc from 'fast-check'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { build } from '../helpers/build-app.ts'
import { crewCallUrl, putCrewCall, putTechnicians, technicianId } from '../helpers/crew.ts'
import { withClient } from '../helpers/database.ts'
import { failOn } from '../helpers/db-faults.ts'

/**
 * A roster's history (issue 14): every roster write (replace, one assignment put or deleted, restore)
 * records its version and changes in its own transaction; every kept version rebuilds; the changes feed
 * brings any copy up to date; a restore is a roster change, scheduled for sync like one.
 */

interface HistoryAssignment {
  technicianId: string
  role: string | null
}

const url = (jobId: string, suffix = '') => `${crewCallUrl('sound', jobId)}/assignments${suffix}`

async function versionsOf(
  app: FastifyInstance,
  jobId: string,
): Promise<{ version: number; restoredFrom: number | null; actor: string }[]> {
  const versions = []
  let cursor: string | null = null
  do {
    const response: LightMyRequestResponse = await app.inject({
      method: 'GET',
      url: url(jobId, `/history?limit=5${cursor ? `&cursor=${cursor}` : ''}`),
    })
    const page: {
      versions: { version: number; restoredFrom: number | null; actor: string }[]
      nextCursor: string | null
    } = response.json()
    versions.push(...page.versions)
    cursor = page.nextCursor
  } while (cursor)
  return versions
}

const rosterAt = async (app: FastifyInstance, jobId: string, version: number) =>
  (await app.inject({ method: 'GET', url: url(jobId, `?version=${version}`) }))
    .json<{
      assignments: HistoryAssignment[]
    }>()
    .assignments.map(({ technicianId, role }) => ({ technicianId, role }))

const current = async (app: FastifyInstance, jobId: string) => {
  const roster = (await app.inject({ method: 'GET', url: url(jobId) })).json<{
    version: number
    assignments: HistoryAssignment[]
  }>()
  return {
    version: roster.version,
    assignments: roster.assignments.map(({ technicianId, role }) => ({ technicianId, role })),
  }
}

function applyChanges(
  copy: HistoryAssignment[],
  changes: {
    created: HistoryAssignment[]
    updated: HistoryAssignment[]
    deleted: { technicianId: string }[]
  },
): HistoryAssignment[] {
  const byId = new Map(copy.map((a) => [a.technicianId, a]))
  for (const { technicianId } of changes.deleted) byId.delete(technicianId)
  for (const a of [...changes.created, ...changes.updated]) byId.set(a.technicianId, a)
  return [...byId.values()].sort((a, b) => (a.technicianId < b.technicianId ? -1 : 1))
}

t.test(
  'every roster write is recorded in its own transaction, and a restore is synced like a change',
  async (t) => {
    const { app, databaseUrl } = await build(t)
    await putTechnicians(app, 4)
    await putCrewCall(app, 'sound', 'el-h1', 'h1')
    const put = (assignments: HistoryAssignment[]) =>
      app.inject({ method: 'PUT', url: url('h1'), payload: { assignments } })
    t.equal((await put([{ technicianId: technicianId(0), role: 'SND-R' }])).statusCode, 200)
    t.equal(
      (await app.inject({ method: 'PUT', url: url('h1', `/${technicianId(1)}`), payload: { role: 'SND-E' } }))
        .statusCode,
      201,
    )
    t.equal((await app.inject({ method: 'DELETE', url: url('h1', `/${technicianId(0)}`) })).statusCode, 204)
    const restored = await app.inject({ method: 'POST', url: url('h1', '/restore'), payload: { version: 1 } })
    t.equal(restored.statusCode, 200)
    t.match(restored.json(), { version: 4, changes: { created: 1, deleted: 1 } })
    t.same(await rosterAt(app, 'h1', 1), [{ technicianId: technicianId(0), role: 'SND-R' }])
    t.same(await rosterAt(app, 'h1', 2), [
      { technicianId: technicianId(0), role: 'SND-R' },
      { technicianId: technicianId(1), role: 'SND-E' },
    ])
    t.same(await rosterAt(app, 'h1', 3), [{ technicianId: technicianId(1), role: 'SND-E' }])
    t.match(await versionsOf(app, 'h1'), [
      { version: 4, restoredFrom: 1, actor: 'service:test' },
      { version: 3 },
      { version: 2 },
      { version: 1 },
    ])
    const crewCall = (await app.inject({ method: 'GET', url: crewCallUrl('sound', 'h1') })).json()
    // Without Flex (this app has none) every change waits as not-configured; the restore is one of them.
    t.equal(crewCall.sync.rosterVersion, 4, 'the restore is a roster change')
    t.equal(crewCall.sync.state, 'not-configured', 'the restore waits for a sync like any change')

    const removeFault = await failOn(databaseUrl, { table: 'roster_changes', on: 'INSERT' })
    t.equal((await put([])).statusCode, 500)
    await removeFault()
    t.equal((await current(app, 'h1')).version, 4, 'a change whose history failed did not happen')
    t.equal(
      await withClient(
        databaseUrl,
        async (c) => (await c.query('SELECT count(*)::int AS n FROM roster_versions')).rows[0].n,
      ),
      4,
    )
  },
)

t.test(
  'property: any sequence of roster writes keeps every version and every changes feed right',
  async (t) => {
    const { app } = await build(t, { env: { RATE_LIMIT_MAX: '1000000' } })
    await putTechnicians(app, 5)
    const tech = fc.nat(4).map(technicianId)
    const role = fc.constantFrom('SND-R', 'SND-E', null)
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('replace' as const),
        assignments: fc.uniqueArray(fc.record({ technicianId: tech, role }), {
          selector: (a) => a.technicianId,
          maxLength: 5,
        }),
      }),
      fc.record({ kind: fc.constant('put' as const), technicianId: tech, role }),
      fc.record({ kind: fc.constant('delete' as const), technicianId: tech }),
      fc.record({ kind: fc.constant('restore' as const), back: fc.nat(4) }),
    )
    let run = 0
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 10 }), async (ops) => {
        const jobId = `prop-${run++}`
        await putCrewCall(app, 'sound', `el-${jobId}`, jobId)
        const model = new Map<number, HistoryAssignment[]>([[0, []]])
        for (const o of ops) {
          const before = await current(app, jobId)
          let response: LightMyRequestResponse
          if (o.kind === 'replace')
            response = await app.inject({
              method: 'PUT',
              url: url(jobId),
              payload: { assignments: o.assignments },
            })
          else if (o.kind === 'put')
            response = await app.inject({
              method: 'PUT',
              url: url(jobId, `/${o.technicianId}`),
              payload: { role: o.role },
            })
          else if (o.kind === 'delete')
            response = await app.inject({ method: 'DELETE', url: url(jobId, `/${o.technicianId}`) })
          else
            response = await app.inject({
              method: 'POST',
              url: url(jobId, '/restore'),
              payload: { version: Math.max(0, before.version - o.back) },
            })
          if (response.statusCode >= 300)
            throw new Error(`${o.kind}: ${response.statusCode} ${response.body}`)
          const after = await current(app, jobId)
          if (o.kind === 'restore') {
            const wanted = model.get(Math.max(0, before.version - o.back))
            if (JSON.stringify(after.assignments) !== JSON.stringify(wanted))
              throw new Error(
                `restore answered ${JSON.stringify(after.assignments)}, not ${JSON.stringify(wanted)}`,
              )
          }
          model.set(after.version, after.assignments)
        }
        const { version: now, assignments: latest } = await current(app, jobId)
        const versions = (await versionsOf(app, jobId)).map((v) => v.version)
        if (versions.join() !== Array.from({ length: now }, (_, i) => now - i).join())
          throw new Error(`history ${versions} is not ${now}..1`)
        for (const [version, assignments] of model) {
          const rebuilt = await rosterAt(app, jobId, version)
          if (JSON.stringify(rebuilt) !== JSON.stringify(assignments))
            throw new Error(`version ${version} rebuilt as ${JSON.stringify(rebuilt)}`)
          const changes = (
            await app.inject({ method: 'GET', url: url(jobId, `/changes?since=${version}`) })
          ).json()
          if (JSON.stringify(applyChanges(assignments, changes)) !== JSON.stringify(latest))
            throw new Error(`changes since ${version} do not give the current roster`)
        }
      }),
      { numRuns: 20, seed: 20261202 },
    )
    t.pass('every version rebuilt, every changes feed applied, no gap')
  },
)

t.test('pruned versions: 404 version-pruned, their changes 410 Gone', async (t) => {
  const { app } = await build(t, { env: { HISTORY_KEEP_VERSIONS: '2', HISTORY_KEEP_DAYS: '0' } })
  await putTechnicians(app, 5)
  await putCrewCall(app, 'sound', 'el-p', 'p')
  for (let i = 0; i < 5; i++)
    await app.inject({
      method: 'PUT',
      url: url('p'),
      payload: { assignments: [{ technicianId: technicianId(i) }] },
    })
  t.equal(await app.services.rosterHistory.prune(), 3)
  const pruned = await app.inject({ method: 'GET', url: url('p', '?version=1') })
  t.equal(pruned.statusCode, 404)
  t.match(pruned.json(), { type: 'urn:rostersync:problem:version-pruned' })
  t.equal((await app.inject({ method: 'GET', url: url('p', '/changes?since=1') })).statusCode, 410)
  t.equal((await app.inject({ method: 'GET', url: url('p', '/changes?since=3') })).statusCode, 200)
  t.equal(
    (await app.inject({ method: 'GET', url: url('nope', '/history') })).statusCode,
    404,
    'no such crew call',
  )
})
