import { Debug } from '@prisma/client/runtime/client'
import t from 'tap'
import {
  crewWorld,
  ELEMENT,
  putCrewCall,
  putTechnicians,
  replaceRoster,
  resourceId,
  sync,
  technicianId,
} from '../../helpers/crew.ts'
import { createTestDatabase } from '../../helpers/database.ts'
import { startRoundTripCounter } from '../../helpers/round-trips.ts'

/**
 * What one run costs the service's side of the database (docs/performance.md#what-a-reconcile-costs):
 * every statement of a run sits between a roster change and its line in Flex, and twenty crew calls due
 * at once share two cores, so the statements are counted on the wire (a proxy in front of PostgreSQL),
 * and the run's statements must reuse Prisma's query plans rather than compile one per run.
 */

/** The roster of one technician, `i`: each run below adds one line and removes the one before. */
const onlyTechnician = (i: number) => [{ technicianId: technicianId(i) }]

t.test('a manual sync that adds one line and removes one is 16 statements', async (t) => {
  const counter = await startRoundTripCounter(await createTestDatabase(t))
  t.teardown(() => counter.close())
  // No background worker polls meanwhile (the sync and webhook workers are off): every round trip is the run's.
  const { app, flex } = await crewWorld(t, 3, { databaseUrl: counter.url, env: { WEBHOOK_WORKER: 'off' } })
  // crewWorld leaves a database it was given as it is.
  await putTechnicians(app, 3)
  await putCrewCall(app)
  t.equal((await replaceRoster(app, onlyTechnician(0))).statusCode, 200)
  t.equal((await sync(app)).status, 200, 'the first run opens the pool and adds technician 0')
  t.equal((await replaceRoster(app, onlyTechnician(1))).statusCode, 200)

  const { result, statements } = await counter.count(() => sync(app))
  t.match(result.body.run, { status: 'succeeded', added: [technicianId(1)] })
  t.equal(result.body.run.removed.length, 1, 'the line of technician 0 removed')
  t.same(
    flex.lines(ELEMENT).map((line) => line.resourceId),
    [resourceId(1)],
  )
  // The crew call read by its job and department, the lease taken, the re-arm and the roster version (a
  // manual run's own: a worker's one claim statement takes the lease and reads the crew call and its
  // version, and re-arms nothing); the run opened (closing an
  // abandoned one in the same statement); the listing's budget; the roster (two: assignments, then their
  // technicians), the adds in doubt and the listed lines' technicians; the plan's budget; the add's doubt
  // written before it goes out, the line recorded, the doubt cleared; the run finished; the schedule told, the lease given back in the same statement. The
  // budget's settle is not sent: the run made the calls it reserved.
  // Counted as statements: the parallel reads may open a second connection, whose startup is not the run's.
  t.comment(`${statements} statements`)
  t.equal(statements, 16, 'the statements listed above, and no more')
})

t.test("a run's statements reuse Prisma's query plans: none is compiled per run", async (t) => {
  const { app } = await crewWorld(t, 4, { env: { WEBHOOK_WORKER: 'off' } })
  // Prisma's client engine says when it compiles a query plan (DEBUG=prisma:client:clientEngine), through
  // console.warn (its debug functions keep the module's log function from their creation, so that is
  // where the lines can be heard).
  const saved = (globalThis as { DEBUG?: string }).DEBUG
  const warn = console.warn
  const misses: string[] = []
  let heard = 0
  console.warn = (...args: unknown[]) => {
    const line = args.map(String).join(' ')
    if (line.includes('prisma:client:clientEngine')) heard++
    if (line.includes('query plan cache miss')) misses.push(line)
  }
  t.teardown(() => {
    console.warn = warn
    Debug.enable(saved ?? '')
  })
  // Two runs compile what runs need (the first adds; the second adds and removes).
  for (const i of [0, 1]) {
    t.equal((await replaceRoster(app, onlyTechnician(i))).statusCode, 200)
    t.equal((await sync(app)).status, 200)
  }
  Debug.enable('prisma:client:clientEngine')
  // Each of these runs records its own ids (added, removed, unchanged): values, never the query's shape.
  for (const i of [2, 3, 0]) {
    t.equal((await replaceRoster(app, onlyTechnician(i))).statusCode, 200)
    const { body } = await sync(app)
    t.match(body.run, { status: 'succeeded', added: [technicianId(i)] })
  }
  Debug.enable(saved ?? '')
  t.ok(heard > 0, "the client engine's debug lines were heard")
  t.same(misses, [], 'every statement of the last three runs found its plan in the cache')
})
