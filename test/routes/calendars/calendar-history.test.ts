import fc from 'fast-check'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { build, injectAs } from '../../helpers/build-app.ts'
import {
  type CalendarPayload,
  calendarSet,
  calendarsUrl,
  getCalendars,
  putCalendars,
} from '../../helpers/calendars.ts'
import { withClient } from '../../helpers/database.ts'
import { failOn } from '../../helpers/db-faults.ts'
import { PROBLEM_CONTENT_TYPE } from '../../helpers/problem.ts'

/**
 * The calendar set's history (issue 14): written in the replace's own transaction, gap-free under
 * concurrency, every kept version rebuilt exactly, restores serialized like replaces, the changes feed
 * bringing any client copy up to date, and pruning answered with 404 version-pruned / 410 Gone.
 */

interface Calendar extends CalendarPayload {
  createdAt: string
  updatedAt: string
}

interface SetAnswer {
  userId: string
  version: number
  calendars: Calendar[]
}

interface Version {
  version: number
  changedAt: string
  actor: string
  requestId: string | null
  changes: { created: number; updated: number; deleted: number }
  restoredFrom: number | null
}

async function allVersions(app: FastifyInstance, userId: string): Promise<Version[]> {
  const versions: Version[] = []
  let cursor: string | null = null
  do {
    const response: LightMyRequestResponse = await injectAs(app, 'service', {
      method: 'GET',
      url: `${calendarsUrl(userId)}/history?limit=7${cursor ? `&cursor=${cursor}` : ''}`,
    })
    const page: { versions: Version[]; nextCursor: string | null } = response.json()
    versions.push(...page.versions)
    cursor = page.nextCursor
  } while (cursor)
  return versions
}

async function setAt(app: FastifyInstance, userId: string, version: number) {
  return injectAs(app, 'service', { method: 'GET', url: `${calendarsUrl(userId)}?version=${version}` })
}

function changesSince(app: FastifyInstance, userId: string, since: number) {
  return injectAs(app, 'service', { method: 'GET', url: `${calendarsUrl(userId)}/changes?since=${since}` })
}

function restore(
  app: FastifyInstance,
  userId: string,
  version: number,
  headers: Record<string, string> = {},
) {
  return injectAs(app, 'service', {
    method: 'POST',
    url: `${calendarsUrl(userId)}/restore`,
    payload: { version },
    headers,
  })
}

/** A client's copy at some version brought up to date with a changes answer. */
function applyChanges(
  copy: Calendar[],
  changes: { created: Calendar[]; updated: Calendar[]; deleted: { calendarId: string }[] },
): Calendar[] {
  const byId = new Map(copy.map((calendar) => [calendar.calendarId, calendar]))
  for (const { calendarId } of changes.deleted) byId.delete(calendarId)
  for (const calendar of [...changes.created, ...changes.updated]) byId.set(calendar.calendarId, calendar)
  return [...byId.values()].sort((a, b) => (a.calendarId < b.calendarId ? -1 : 1))
}

const withoutTimes = (calendars: Calendar[]) => calendars.map(({ createdAt, updatedAt, ...rest }) => rest)

t.test('a replace records its version and each change in its own transaction', async (t) => {
  const { app, databaseUrl } = await build(t)
  const first = await putCalendars(app, 'ann', calendarSet('a', 3), { 'x-request-id': 'req-first' })
  t.equal(first.statusCode, 200)
  const second = await putCalendars(app, 'ann', [...calendarSet('a', 2), { calendarId: 'b', summary: 'B' }])
  t.equal(second.statusCode, 200)

  const versions = await allVersions(app, 'ann')
  t.match(versions, [
    {
      version: 2,
      actor: 'service:test',
      changes: { created: 1, updated: 0, deleted: 1 },
      restoredFrom: null,
    },
    {
      version: 1,
      actor: 'service:test',
      requestId: 'req-first',
      changes: { created: 3, updated: 0, deleted: 0 },
    },
  ])
  const noop = await putCalendars(app, 'ann', [...calendarSet('a', 2), { calendarId: 'b', summary: 'B' }])
  t.equal(noop.json().version, 2, 'a replay changes nothing')
  t.equal((await allVersions(app, 'ann')).length, 2, 'and records no version')

  // The version row, which holds the version's changes, is written last, after the delete and upsert
  // ran: failing there leaves nothing of the replace behind.
  const changesBefore = await withClient(
    databaseUrl,
    async (c) =>
      (await c.query('SELECT jsonb_agg(changes ORDER BY version) AS changes FROM calendar_versions')).rows[0]
        .changes,
  )
  t.equal(changesBefore.flatMap((c: object) => Object.keys(c)).length, 5, 'five changes recorded')
  const removeVersionFault = await failOn(databaseUrl, { table: 'calendar_versions', on: 'INSERT' })
  t.equal((await putCalendars(app, 'ann', calendarSet('d', 2))).statusCode, 500)
  await removeVersionFault()
  t.equal((await getCalendars(app, 'ann')).version, 2, 'the set is as it was')
  t.equal((await allVersions(app, 'ann')).length, 2, 'no version recorded')
  t.same(
    await withClient(
      databaseUrl,
      async (c) =>
        (await c.query('SELECT jsonb_agg(changes ORDER BY version) AS changes FROM calendar_versions'))
          .rows[0].changes,
    ),
    changesBefore,
    'and no change recorded',
  )
})

t.test(
  'concurrent replaces: a gap-free history whose every version rebuilds the answer that made it',
  async (t) => {
    const { app } = await build(t)
    const sets = Array.from({ length: 24 }, (_, i) =>
      calendarSet(`s${i % 5}`, 2 + (i % 4), {
        summary: `round ${i}`,
        primary: i % 3 === 0 ? undefined : false,
      }),
    )
    const answers = await Promise.all(sets.map((set) => putCalendars(app, 'bob', set)))
    t.ok(
      answers.every((answer) => answer.statusCode === 200),
      'every replace succeeded',
    )
    const versions = (await allVersions(app, 'bob')).map((v) => v.version)
    const current = (await getCalendars(app, 'bob')).version
    t.same(
      versions,
      Array.from({ length: current }, (_, i) => current - i),
      'versions current..1, no gap',
    )

    for (const answer of answers) {
      const { version, calendars } = answer.json<SetAnswer>()
      const rebuilt = await setAt(app, 'bob', version)
      t.same(rebuilt.json<SetAnswer>().calendars, calendars, `version ${version} rebuilt exactly`)
      t.equal(rebuilt.headers.etag, `"${version}"`)
    }
    t.same((await setAt(app, 'bob', 0)).json<SetAnswer>().calendars, [], 'version 0: no calendars')
    t.equal((await setAt(app, 'bob', current + 1)).statusCode, 404, 'a version never reached')
  },
)

t.test(
  'property: any sequence of replaces and restores keeps every version and every changes feed right',
  async (t) => {
    const { app } = await build(t)
    const ids = ['a', 'b', 'c', 'd', 'e', 'f']
    const replaceOp = fc.record({
      kind: fc.constant('replace' as const),
      calendars: fc.uniqueArray(
        fc.record({ calendarId: fc.constantFrom(...ids), summary: fc.constantFrom('x', 'y', 'z') }),
        { selector: (calendar) => calendar.calendarId, maxLength: 6 },
      ),
    })
    const restoreOp = fc.record({ kind: fc.constant('restore' as const), back: fc.nat(5) })
    let run = 0
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof(replaceOp, restoreOp), { minLength: 1, maxLength: 12 }),
        async (ops) => {
          const userId = `prop-${run++}`
          const model = new Map<number, Calendar[]>([[0, []]])
          let current = 0
          for (const op of ops) {
            const response =
              op.kind === 'replace'
                ? await putCalendars(app, userId, op.calendars)
                : await restore(app, userId, Math.max(0, current - op.back))
            if (response.statusCode !== 200)
              throw new Error(`${op.kind}: ${response.statusCode} ${response.body}`)
            const answer = response.json<SetAnswer>()
            if (op.kind === 'restore') {
              const wanted = model.get(Math.max(0, current - op.back)) ?? []
              if (JSON.stringify(withoutTimes(answer.calendars)) !== JSON.stringify(withoutTimes(wanted)))
                throw new Error(`restore to ${current - op.back} answered another set`)
            }
            current = answer.version
            model.set(current, answer.calendars)
          }
          const versions = (await allVersions(app, userId)).map((v) => v.version)
          if (
            JSON.stringify(versions) !==
            JSON.stringify(Array.from({ length: current }, (_, i) => current - i))
          )
            throw new Error(`history ${versions} is not ${current}..1`)
          for (const [version, calendars] of model) {
            const rebuilt = (await setAt(app, userId, version)).json<SetAnswer>()
            if (JSON.stringify(rebuilt.calendars) !== JSON.stringify(calendars))
              throw new Error(`version ${version} rebuilt as ${JSON.stringify(rebuilt.calendars)}`)
            const changes = (await changesSince(app, userId, version)).json()
            if (changes.version !== current)
              throw new Error(`changes since ${version} name version ${changes.version}`)
            const updated = applyChanges(calendars, changes)
            if (JSON.stringify(updated) !== JSON.stringify(model.get(current)))
              throw new Error(`changes since ${version} applied give ${JSON.stringify(updated)}`)
          }
        },
      ),
      { numRuns: 25, seed: 20261202 },
    )
    t.pass('every version rebuilt, every changes feed applied, no gap')
  },
)

t.test('restores are serialized with replaces and recorded as restores', async (t) => {
  const { app } = await build(t)
  await putCalendars(app, 'cy', calendarSet('one', 2))
  await putCalendars(app, 'cy', calendarSet('two', 3))
  const wanted = (await setAt(app, 'cy', 1)).json<SetAnswer>().calendars
  const answers = await Promise.all([
    ...Array.from({ length: 6 }, () => restore(app, 'cy', 1)),
    ...Array.from({ length: 6 }, (_, i) => putCalendars(app, 'cy', calendarSet(`p${i}`, 1))),
  ])
  t.ok(answers.every((answer) => answer.statusCode === 200))
  for (const answer of answers.slice(0, 6)) {
    t.same(
      withoutTimes(answer.json<SetAnswer>().calendars),
      withoutTimes(wanted),
      'each restore answers version 1',
    )
  }
  const versions = await allVersions(app, 'cy')
  const current = (await getCalendars(app, 'cy')).version
  t.same(
    versions.map((v) => v.version),
    Array.from({ length: current }, (_, i) => current - i),
    'no gap',
  )
  t.ok(
    versions.some((v) => v.restoredFrom === 1),
    'restores say what they restored',
  )

  const stale = await restore(app, 'cy', 1, { 'if-match': '"1"' })
  t.equal(stale.statusCode, 412, 'If-Match applies to a restore')
})

t.test('pruning: versions beyond the kept ones are 404 version-pruned, their changes 410 Gone', async (t) => {
  const { app, databaseUrl } = await build(t, { env: { HISTORY_KEEP_VERSIONS: '3', HISTORY_KEEP_DAYS: '0' } })
  for (let i = 0; i < 6; i++) await putCalendars(app, 'di', calendarSet(`g${i}`, 2))
  t.equal(await app.services.calendarHistory.prune(), 3, 'versions 1-3 pruned')
  t.same(
    (await allVersions(app, 'di')).map((v) => v.version),
    [6, 5, 4],
  )
  const changedVersions = await withClient(databaseUrl, async (c) =>
    (
      await c.query<{ version: number }>(
        "SELECT version FROM calendar_versions WHERE user_id = 'di' AND changes <> '{}' ORDER BY version DESC",
      )
    ).rows.map((row) => row.version),
  )
  t.same(changedVersions, [6, 5, 4], 'the pruned versions’ changes went with them')

  const pruned = await setAt(app, 'di', 2)
  t.equal(pruned.statusCode, 404)
  t.match(pruned.headers['content-type'], PROBLEM_CONTENT_TYPE)
  t.match(pruned.json(), { type: 'urn:rostersync:problem:version-pruned' })
  t.equal((await setAt(app, 'di', 3)).statusCode, 200, 'the oldest kept version’s predecessor still rebuilds')

  const gone = await changesSince(app, 'di', 2)
  t.equal(gone.statusCode, 410)
  t.match(gone.json(), { type: 'urn:rostersync:problem:history-gone', status: 410 })
  t.equal((await changesSince(app, 'di', 3)).statusCode, 200)
  t.match((await restore(app, 'di', 1)).json(), { type: 'urn:rostersync:problem:version-pruned' })
  t.equal((await getCalendars(app, 'di')).version, 6, 'a refused restore writes nothing')
})

t.test('hostile or impossible queries are 400s naming the field', async (t) => {
  const { app } = await build(t)
  await putCalendars(app, 'ed', calendarSet('h', 1))
  const cases: [string, string][] = [
    [`${calendarsUrl('ed')}?version=-1`, '/version'],
    [`${calendarsUrl('ed')}?version=abc`, '/version'],
    [`${calendarsUrl('ed')}/changes?since=2`, '/since'],
    [`${calendarsUrl('ed')}/changes`, '/since'],
    [`${calendarsUrl('ed')}/history?cursor=nonsense`, '/cursor'],
    [`${calendarsUrl('ed')}/history?limit=0`, '/limit'],
  ]
  for (const [url, pointer] of cases) {
    const response = await injectAs(app, 'service', { method: 'GET', url })
    t.equal(response.statusCode, 400, url)
    t.match(response.json(), { errors: [{ in: 'query', pointer }] }, url)
  }
  const badBody = await injectAs(app, 'service', {
    method: 'POST',
    url: `${calendarsUrl('ed')}/restore`,
    payload: { version: 'one' },
  })
  t.equal(badBody.statusCode, 400)
  t.match(badBody.json(), { errors: [{ in: 'body', pointer: '/version' }] })
})
