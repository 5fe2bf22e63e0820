import t, { type Test } from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import {
  type CrewWorld,
  crewCallUrl,
  crewWorld,
  ELEMENT,
  flexWrites,
  linesPerResource,
  replaceRoster,
  resourceId,
  roster,
  sync,
  technicianId,
} from '../../helpers/crew.ts'
import type { ResponseShape } from '../../helpers/fake-flex/fake-flex.ts'

/**
 * G4 against Flex as public callers of real Flex must read it (test/fixtures/flex/README.md): every
 * answer shape either converges with exactly one line per rostered technician and no add for anyone
 * already booked, or stops the sync before it changes anything.
 */

const ROLES = { sound: { R: '3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c01' } }
const ENV = { FLEX_BUSINESS_ROLES: JSON.stringify(ROLES), FLEX_MAX_ATTEMPTS: '1' }
const TECHNICIANS = 5

async function world(t: Test, shape: Partial<ResponseShape>, env: Record<string, string> = {}) {
  const w = await crewWorld(t, TECHNICIANS + 1, { env: { ...ENV, ...env } })
  Object.assign(w.flex.shape, shape)
  return w
}

/** What a sync could have changed: Flex's lines and the rows' recorded lines. */
async function snapshot({ app, flex }: CrewWorld) {
  const assignments = (
    await injectAs(app, 'service', { method: 'GET', url: `${crewCallUrl()}/assignments` })
  ).json()
  return { lines: flex.lines(ELEMENT), assignments }
}

const rosterWithRoles = (count: number) => roster(count, 'SND-FOH-R')

const converging: [string, Partial<ResponseShape>][] = [
  ['the kind field absent', { rowType: 'absent' }],
  ['the kind capitalised', { kindSpelling: 'Contact' }],
  ['the kind in `type`, upper case', { rowType: 'type', kindSpelling: 'CONTACT' }],
  [
    'code-keyed contact and business-role columns',
    { rowResource: 'contact-column', rowRole: 'business-role-column' },
  ],
  ['lines nested under a container', { nesting: 'container' }],
  [
    'nested, kind absent, resource as resource.resourceId',
    { nesting: 'container', rowType: 'absent', rowResource: 'resource.resourceId' },
  ],
  ['no role in the rows', { rowRole: 'none' }],
  ['numeric ids', { ids: 'number' }],
  ['an add answer that names no line', { add: 'none' }],
]

for (const [name, shape] of converging) {
  t.test(`${name}: three syncs converge, and nobody booked is added again`, async (t) => {
    const w = await world(t, shape)
    const { app, flex } = w
    const booked = flex.addLineByHand(ELEMENT, resourceId(0))
    t.equal((await replaceRoster(app, rosterWithRoles(TECHNICIANS))).statusCode, 200)

    const runs = []
    for (let i = 0; i < 3; i++) runs.push((await sync(app)).body.run)
    t.same(flex.duplicateAdds, [], 'Flex never received an add for a technician who had a line')
    t.same(
      [...linesPerResource(flex).values()],
      Array(TECHNICIANS).fill(1),
      'one line per rostered technician',
    )
    t.ok(
      flex.lines(ELEMENT).some((line) => line.id === booked),
      'the line booked by hand was adopted',
    )
    t.same(runs[0].adopted, [technicianId(0)])
    t.same(
      [...runs[0].added].sort(),
      roster(TECHNICIANS)
        .slice(1)
        .map((a) => a.technicianId),
    )
    for (const run of runs) t.equal(run.status, 'succeeded', JSON.stringify(run.errors))
    for (const run of runs.slice(1)) {
      t.same([run.added, run.repaired, run.removed], [[], [], []], 'a converged crew call is left alone')
    }
    t.ok(
      flex.lines(ELEMENT).every((line) => line.businessRoleId === ROLES.sound.R),
      'every role set',
    )
    if (shape.rowRole === 'none') {
      t.same(runs[1].rolesSet, [], 'roles compared with the role last set, not set again')
      t.match(runs[1].notes, [/no readable business role for 5 technician line/])
    } else {
      t.same(runs[1].notes, [])
    }

    // A line deleted by hand is put back, once.
    const [first] = flex.lines(ELEMENT)
    flex.deleteLineByHand(first?.id ?? '')
    const repair = (await sync(app)).body.run
    t.equal(repair.repaired.length, 1)
    t.same(flex.duplicateAdds, [])
    t.same([...linesPerResource(flex).values()], Array(TECHNICIANS).fill(1))
  })
}

/** A roster change is pending (add technician 5, drop technician 0); the fault stops every sync. */
async function pendingChange(t: Test, shape: Partial<ResponseShape> = {}, env: Record<string, string> = {}) {
  const w = await world(t, shape, env)
  await replaceRoster(w.app, rosterWithRoles(TECHNICIANS))
  t.equal((await sync(w.app)).body.run.status, 'succeeded')
  await replaceRoster(w.app, rosterWithRoles(TECHNICIANS + 1).slice(1))
  return w
}

async function syncsChangeNothing(
  t: Test,
  w: CrewWorld,
  expected: { status: string; error: RegExp; operation?: string },
) {
  const before = await snapshot(w)
  const writes = flexWrites(w.flex).length
  for (let i = 0; i < 3; i++) {
    const run = (await sync(w.app)).body.run
    t.equal(run.status, expected.status)
    t.match(run.errors, [{ operation: expected.operation ?? 'list', message: expected.error }])
    t.same([run.added, run.removed, run.repaired, run.adopted], [[], [], [], []])
  }
  t.same(await snapshot(w), before, 'Flex and the database unchanged')
  t.equal(flexWrites(w.flex).length, writes, 'no Flex writes')
  t.same(w.flex.duplicateAdds, [])
}

async function thenConverges(t: Test, w: CrewWorld) {
  w.flex.clearFaults()
  const run = (await sync(w.app)).body.run
  t.equal(run.status, 'succeeded', JSON.stringify(run.errors))
  t.same(w.flex.duplicateAdds, [])
  t.same(
    [...linesPerResource(w.flex).keys()].sort(),
    rosterWithRoles(TECHNICIANS + 1)
      .slice(1)
      .map((_, i) => resourceId(i + 1))
      .sort(),
  )
}

t.test('a row of unknown shape stops every sync before it acts, naming the row and its fields', async (t) => {
  const w = await pendingChange(t)
  w.flex.addRawRow(ELEMENT, {
    id: '5acd9e6f-6172-4384-80d0-c1b2a3948576',
    name: 'Jane Q. Private',
    quantity: 1,
  })
  await syncsChangeNothing(t, w, {
    status: 'failed',
    error: /row 5 \(fields: id, name, quantity\): no kind field and no resource id/,
  })
  const { runs } = (
    await injectAs(w.app, 'service', { method: 'GET', url: '/v1/sync-runs?status=failed' })
  ).json()
  t.notOk(JSON.stringify(runs).includes('Jane'), 'no value of a personal field is recorded')
  const dryRun = await sync(w.app, 'sound', '?dryRun=true')
  t.equal(dryRun.status, 502, 'a dry run says so too')
})

t.test('a contact row whose contact column is a name, not an id, stops the sync', async (t) => {
  const w = await pendingChange(t)
  w.flex.addRawRow(ELEMENT, {
    id: 'c1b2a394-8576-4d0c-9e6f-5acd9e6f6172',
    contact: 'Jane Q. Private',
    quantity: 1,
  })
  await syncsChangeNothing(t, w, { status: 'failed', error: /contact column holds a value that is neither/ })
})

t.test('rows of explicit other kinds are skipped, and a sync goes on', async (t) => {
  const w = await pendingChange(t)
  w.flex.addRawRow(ELEMENT, { id: 'e1', managedResourceLineItemType: 'Equipment', resource: 'a speaker' })
  w.flex.addRawRow(ELEMENT, { id: 'e2', type: 'labor', name: 'Rigging' })
  w.flex.addRawRow(ELEMENT, { id: 'e3', managedResourceLineItemType: 'equipment', resourceId: 'product-1' })
  await thenConverges(t, w)
})

t.test("an equipment-kind row naming a known technician's resource is that technician's line", async (t) => {
  const w = await world(t, {})
  const line = w.flex.addLineByHand(ELEMENT, resourceId(0))
  w.flex.shape.kindSpelling = 'Contact'
  await replaceRoster(w.app, rosterWithRoles(1))
  // The fake sends its lines with the shape's kind; a row mislabelled by Flex is added raw.
  w.flex.deleteLineByHand(line)
  w.flex.addRawRow(ELEMENT, { id: line, managedResourceLineItemType: 'equipment', resourceId: resourceId(0) })
  for (let i = 0; i < 3; i++) await sync(w.app)
  t.same(w.flex.duplicateAdds, [])
  t.equal(w.flex.calls.filter((call) => call.endpoint === 'add').length, 0, 'never added: it has a line')
})

const refusals: [string, (w: CrewWorld) => void, { status: string; error: RegExp }][] = [
  [
    "Flex's login page with 200",
    (w) => w.flex.answerLoginPage('list', { times: 3 }),
    { status: 'failed', error: /HTML page \(HTTP 200\).*login page/ },
  ],
  [
    'a redirect to the login page',
    (w) => w.flex.redirectToLogin('list', 3),
    { status: 'failed', error: /a redirect \(HTTP 302\), not followed/ },
  ],
  [
    'success: false on the list',
    (w) => w.flex.refuse('list', 3),
    { status: 'failed', error: /success false/ },
  ],
  ['401', (w) => w.flex.fail('list', { status: 401, times: 3 }), { status: 'failed', error: /HTTP 401/ }],
  [
    '429 with Retry-After',
    (w) => w.flex.fail('list', { status: 429, retryAfter: '120', times: 3 }),
    { status: 'deferred', error: /HTTP 429/ },
  ],
  [
    '429 without Retry-After',
    (w) => w.flex.fail('list', { status: 429, times: 3 }),
    { status: 'deferred', error: /HTTP 429/ },
  ],
  [
    'a body that is not JSON',
    (w) => w.flex.answer('list', { status: 200, body: 'OK', times: 3 }),
    { status: 'failed', error: /not JSON/ },
  ],
  [
    'an object instead of the rows',
    (w) => w.flex.answer('list', { status: 200, body: { data: { items: [] } }, times: 3 }),
    { status: 'failed', error: /not a list/ },
  ],
]

for (const [name, inject, expected] of refusals) {
  t.test(`${name}: three syncs change nothing, then the next converges`, async (t) => {
    const w = await pendingChange(t)
    inject(w)
    const started = Date.now()
    await syncsChangeNothing(t, w, expected)
    const [last] = (await injectAs(w.app, 'service', { method: 'GET', url: '/v1/sync-runs?limit=1' })).json()
      .runs
    if (expected.status === 'deferred') {
      const wait = Date.parse(last.retryAt) - started
      t.ok(
        wait >= (name === '429 with Retry-After' ? 119_000 : 59_000),
        `retryAt ${last.retryAt} honours Flex`,
      )
    } else {
      t.equal(last.retryAt, null)
    }
    t.equal(last.flexCalls, 1, 'not retried')
    await thenConverges(t, w)
  })
}

t.test('a refused add (success: false) is not retried, and the next sync adds it once', async (t) => {
  const w = await pendingChange(t)
  const adds = () => w.flex.calls.filter((call) => call.endpoint === 'add').length
  const addsBefore = adds()
  w.flex.refuse('add')
  const run = (await sync(w.app)).body.run
  t.equal(run.status, 'partial')
  t.match(run.errors, [
    { operation: 'add', technicianId: technicianId(TECHNICIANS), message: /success false/ },
  ])
  t.equal(adds() - addsBefore, 1, 'one add, not retried')
  await thenConverges(t, w)
})

t.test('a 429 on an add defers the rest of the run; nothing is added twice', async (t) => {
  const w = await world(t, {}, { FLEX_CONCURRENCY: '1' })
  await replaceRoster(w.app, rosterWithRoles(TECHNICIANS))
  w.flex.fail('add', { status: 429, retryAfter: '30' })
  const run = (await sync(w.app)).body.run
  t.equal(run.status, 'deferred')
  t.ok(Date.parse(run.retryAt) > Date.now() + 25_000)
  t.equal(w.flex.calls.filter((call) => call.endpoint === 'add').length, 1, 'no add after the 429')
  t.match(run.errors, [{ message: /HTTP 429/ }, { message: /not tried: Flex's rate limit deferred/ }])
  const next = (await sync(w.app)).body.run
  t.equal(next.status, 'succeeded')
  t.same(w.flex.duplicateAdds, [])
  t.same([...linesPerResource(w.flex).values()], Array(TECHNICIANS).fill(1))
})
