import t from 'tap'
import { injectAs } from '../../helpers/build-app.ts'
import {
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
import { withClient } from '../../helpers/database.ts'
import { failOn } from '../../helpers/db-faults.ts'
import { waitFor } from '../../helpers/wait.ts'

/** G4 under faults: Flex converges, never holds two lines for one technician, and a failed read changes nothing. */

const FAST_RETRIES = { FLEX_MAX_ATTEMPTS: '2', FLEX_TIMEOUT_MS: '300' }

t.test('a failed read of Flex fails the run and changes nothing', async (t) => {
  const { app, flex } = await crewWorld(t, 3, { env: FAST_RETRIES })
  await replaceRoster(app, roster(3))
  await sync(app)
  const linesBefore = flex.lines(ELEMENT)
  const rosterBefore = (
    await injectAs(app, 'service', { method: 'GET', url: `${crewCallUrl()}/assignments` })
  ).json()
  await replaceRoster(app, roster(2)) // tech-2 would be removed by a successful sync
  const rosterNow = (
    await injectAs(app, 'service', { method: 'GET', url: `${crewCallUrl()}/assignments` })
  ).json()
  flex.fail('list', { status: 503, times: 2 })
  const writesBefore = flexWrites(flex).length

  const run = (await sync(app)).body.run
  t.equal(run.status, 'failed')
  t.match(run.errors, [{ operation: 'list', message: /503/ }])
  t.same(flex.lines(ELEMENT), linesBefore, 'Flex unchanged')
  t.equal(flexWrites(flex).length, writesBefore, 'no Flex writes')
  t.same(
    (await injectAs(app, 'service', { method: 'GET', url: `${crewCallUrl()}/assignments` })).json(),
    rosterNow,
    'database unchanged',
  )
  t.not(rosterNow, rosterBefore)
  const failed = (
    await injectAs(app, 'service', { method: 'GET', url: '/v1/sync-runs?status=failed' })
  ).json()
  t.same(
    failed.runs.map((r: { id: string }) => r.id),
    [run.id],
    'recorded as failed',
  )
})

t.test('one add failing out of ten makes the run partial; the next sync converges', async (t) => {
  const { app, flex } = await crewWorld(t, 10)
  await replaceRoster(app, roster(10))
  flex.fail('add', { status: 422, times: 1 })
  const first = (await sync(app)).body.run
  t.equal(first.status, 'partial')
  t.equal(first.added.length, 9)
  t.equal(first.errors.length, 1)
  t.match(first.errors[0], { operation: 'add', technicianId: String, message: /422/ })
  t.equal(flex.lines(ELEMENT).length, 9)

  const second = (await sync(app)).body.run
  t.equal(second.status, 'succeeded')
  t.same(second.added, [first.errors[0].technicianId])
  t.same([...linesPerResource(flex).values()], Array(10).fill(1))
})

t.test('an add whose answer is lost is adopted after re-listing, never added twice', async (t) => {
  for (const how of ['drop', 'error', 'hang'] as const) {
    const { app, flex } = await crewWorld(t, 3, { env: FAST_RETRIES })
    await replaceRoster(app, roster(3))
    flex.loseAddResponse(1, how)
    const run = (await sync(app)).body.run
    t.equal(run.status, 'succeeded', `${how}: succeeded`)
    t.equal(run.added.length, 3, `${how}: all three added`)
    t.same([...linesPerResource(flex).values()], [1, 1, 1], `${how}: one line each`)
    const adds = flex.calls.filter((call) => call.endpoint === 'add')
    t.equal(adds.length, 3, `${how}: the lost add was not repeated`)
  }
})

t.test('an add whose answer is lost while Flex cannot be listed is not tried again blind', async (t) => {
  const { app, flex } = await crewWorld(t, 1, { env: FAST_RETRIES })
  await replaceRoster(app, roster(1))
  flex.loseAddResponse(1, 'hang')
  const running = sync(app)
  await waitFor('the add to reach Flex', () => flex.calls.some((call) => call.endpoint === 'add'))
  flex.fail('list', { status: 503, times: 4 }) // the re-listing that would find the line fails
  const first = (await running).body.run
  t.equal(first.status, 'partial', 'the add is reported failed')
  t.match(first.errors, [{ operation: 'add', technicianId: technicianId(0) }])
  const adds = () => flex.calls.filter((call) => call.endpoint === 'add').length
  t.equal(adds(), 1, 'no second add: the first may have landed (it did)')

  flex.clearFaults()
  const second = (await sync(app)).body.run
  t.same(second.adopted, [technicianId(0)], 'the next sync adopts the line the lost answer named')
  t.equal(adds(), 1)
  t.same([...linesPerResource(flex).values()], [1], 'one line')
})

t.test(
  'an add that lands after the client gave up is never sent again while it may still land',
  async (t) => {
    const { app, flex } = await crewWorld(t, 2, { env: { ...FAST_RETRIES, FLEX_ADD_DOUBT_MS: '2500' } })
    await replaceRoster(app, roster(2))
    flex.landAddLate(800) // longer than FLEX_TIMEOUT_MS (300): the listing after the timeout shows no line
    const adds = () => flex.calls.filter((call) => call.endpoint === 'add').length

    const first = (await sync(app)).body.run
    t.equal(first.status, 'partial', 'the other technician was added')
    t.match(first.errors, [{ operation: 'add', message: /may still land in Flex/ }])
    // Which of the two adds reached Flex first, and so landed late, is up to the race between them.
    const late: string = first.errors[0].technicianId
    t.equal(adds(), 2, 'the timed-out add was not sent again in the same run')

    const second = (await sync(app)).body.run
    t.match(second.errors, [{ operation: 'add', message: /may still land in Flex until/ }])
    t.equal(adds(), 2, 'nor by the next sync while it may still land')

    await waitFor('the late add to land', () => flex.lines(ELEMENT).length === 2)
    const third = (await sync(app)).body.run
    t.equal(third.status, 'succeeded')
    t.same(third.adopted, [late], 'the line that landed late is adopted')
    t.same(flex.duplicateAdds, [], 'Flex never received an add for a technician who had a line')
    t.same([...linesPerResource(flex).values()], [1, 1], 'one line each')
  },
)

t.test('an add that never landed is sent again once its doubt has passed', async (t) => {
  const { app, flex } = await crewWorld(t, 1, { env: { ...FAST_RETRIES, FLEX_ADD_DOUBT_MS: '500' } })
  await replaceRoster(app, roster(1))
  flex.hang('add', 2) // times out, and is never performed
  const first = (await sync(app)).body.run
  t.match(first.errors, [{ operation: 'add', message: /may still land in Flex/ }])
  await new Promise((resolve) => setTimeout(resolve, 600))
  const second = (await sync(app)).body.run
  t.match(
    second.errors,
    [{ operation: 'add', message: /no answer within/ }],
    'the add was sent again and hung again',
  )
  await new Promise((resolve) => setTimeout(resolve, 600))
  const third = (await sync(app)).body.run
  t.equal(third.status, 'succeeded', 'added once the doubt passed')
  t.same([...linesPerResource(flex).values()], [1])
})

t.test('when recording a line fails after Flex added it, the next sync adopts that line', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 4)
  await replaceRoster(app, roster(4))
  const removeFault = await failOn(databaseUrl, {
    table: 'crew_assignments',
    on: 'UPDATE',
    when: `NEW.technician_id = 'tech-2' AND NEW.flex_line_item_id IS NOT NULL`,
  })
  const first = (await sync(app)).body.run
  t.equal(first.status, 'partial')
  t.match(first.errors, [{ operation: 'record', technicianId: technicianId(2) }])
  t.equal(linesPerResource(flex).get(resourceId(2)), 1, 'the line exists in Flex')
  const row = (await injectAs(app, 'service', { method: 'GET', url: `${crewCallUrl()}/assignments` }))
    .json()
    .assignments.find((a: { technicianId: string }) => a.technicianId === technicianId(2))
  t.equal(row.flexLineItemId, null, 'no row claims a line it could not record')

  await removeFault()
  const second = (await sync(app)).body.run
  t.same(second.adopted, [technicianId(2)])
  t.same(second.added, [])
  t.same([...linesPerResource(flex).values()], [1, 1, 1, 1], 'Flex never holds two lines for one technician')
})

t.test('removing a line that is already gone counts as removed', async (t) => {
  const { app, flex } = await crewWorld(t, 2)
  await replaceRoster(app, roster(2))
  await sync(app)
  await replaceRoster(app, roster(1))
  flex.answer('remove', { status: 404, body: { message: 'no such line' } })
  const run = (await sync(app)).body.run
  t.equal(run.status, 'succeeded')
  t.equal(run.removed.length, 1)
})

t.test('a dry run whose Flex read fails is a 502 problem', async (t) => {
  const { app, flex } = await crewWorld(t, 1, { env: FAST_RETRIES })
  flex.fail('list', { status: 500, times: 2 })
  const response = await injectAs(app, 'service', {
    method: 'POST',
    url: `${crewCallUrl()}/sync?dryRun=true`,
  })
  t.equal(response.statusCode, 502)
  t.match(response.json(), { type: 'urn:rostersync:problem:upstream', detail: /500/ })
  t.notMatch(response.body, new RegExp(flex.token), 'the Flex token is never disclosed')
})

t.test('a sync that lost its lease during an add does not try the add again', async (t) => {
  const { app, flex, databaseUrl } = await crewWorld(t, 1, { env: { ...FAST_RETRIES, SYNC_LEASE_MS: '150' } })
  await replaceRoster(app, roster(1))
  // Refused, not performed (a 503 cannot have landed): re-listing finds no line, so only the lease
  // stops a second add.
  flex.fail('add', { status: 503, afterMs: 200 })
  const running = sync(app)
  await waitFor('the add to reach Flex', () => flex.calls.some((call) => call.endpoint === 'add'))
  await withClient(databaseUrl, (c) => c.query(`UPDATE crew_calls SET sync_lease_owner = 'another-instance'`))
  const first = (await running).body.run
  t.match(first.errors, [{ operation: 'add', message: /not retried: the sync lease was lost/ }])
  t.equal(flex.calls.filter((call) => call.endpoint === 'add').length, 1, 'one add only')
})
