import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import t from 'tap'
import { build } from '../helpers/build-app.ts'
import { calendarSet, putCalendars } from '../helpers/calendars.ts'

/**
 * Prisma records the arguments of its last 100 raw queries, DEBUG or not; a replace sends its whole set
 * as one parameter. Measured on the heap after a full collection: large replaces must not stay alive
 * after their requests (src/db/prisma-argument-history.ts), with an Idempotency-Key (the stored
 * response is a large parameter too) or without.
 */

setFlagsFromString('--expose-gc')
const collectGarbage = runInNewContext('gc') as () => void

async function heapAfterCollection(): Promise<number> {
  for (let round = 0; round < 3; round++) {
    collectGarbage()
    await new Promise((resolve) => setImmediate(resolve))
  }
  return process.memoryUsage().heapUsed
}

const SETS = 8
const CALENDARS = 5_000
const megabytes = (bytes: number) => bytes / 2 ** 20
// One such set is about 1.5 MB of JSON, and Prisma's records of it more: eight kept would be 20+ MB.
const MAX_RETAINED_MB = 8

t.test('large calendar replaces leave nothing of their sets behind', async (t) => {
  const { app } = await build(t)
  await putCalendars(app, 'warm-up', calendarSet('w', CALENDARS, { description: 'x'.repeat(100) }))
  const before = await heapAfterCollection()
  for (let i = 0; i < SETS; i++) {
    const headers: Record<string, string> = i % 2 === 0 ? {} : { 'idempotency-key': `large-${i}` }
    const calendars = calendarSet(`set-${i}`, CALENDARS, { description: 'x'.repeat(100) })
    const response = await putCalendars(app, `large-${i}`, calendars, headers)
    t.equal(response.statusCode, 200)
  }
  const retained = megabytes((await heapAfterCollection()) - before)
  t.ok(
    retained < MAX_RETAINED_MB,
    `${retained.toFixed(1)} MB retained after ${SETS} sets (< ${MAX_RETAINED_MB})`,
  )
})
