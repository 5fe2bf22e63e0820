import t from 'tap'
import { createLimiter } from '../../src/flex/limiter.ts'

/** A task that runs until release() is called, recording when it started. */
function controlledTask(started: number[], id: number) {
  let release = () => {}
  const done = new Promise<number>((resolve) => {
    release = () => resolve(id)
  })
  return {
    run: () => {
      started.push(id)
      return done
    },
    release: () => release(),
  }
}

/** Lets every pending promise continuation run. */
const settle = () => new Promise((resolve) => setImmediate(resolve))

t.test('never more than the limit in flight; queued tasks start in order', async (t) => {
  const limiter = createLimiter(2)
  const started: number[] = []
  const tasks = [0, 1, 2, 3, 4].map((id) => controlledTask(started, id))
  const results = tasks.map((task) => limiter.run(task.run))
  await settle()
  t.same(started, [0, 1])
  t.equal(limiter.inFlight, 2)

  tasks[1]?.release()
  await settle()
  t.same(started, [0, 1, 2], 'a finished task makes room for exactly one more')
  // A newcomer while tasks wait must queue behind them, not take the freed slot.
  results.push(limiter.run(async () => 5))
  for (const task of tasks) task.release()
  t.same(await Promise.all(results), [0, 1, 2, 3, 4, 5])
  t.equal(limiter.maxInFlight, 2)
  t.equal(limiter.inFlight, 0)
})

t.test('a failing task frees its slot and its caller gets the error', async (t) => {
  const limiter = createLimiter(1)
  await t.rejects(
    limiter.run(async () => {
      throw new Error('boom')
    }),
    /boom/,
  )
  t.equal(await limiter.run(async () => 'next'), 'next')
  t.equal(limiter.inFlight, 0)
})

t.test('many tasks at once stay within the limit', async (t) => {
  const limiter = createLimiter(3)
  let running = 0
  let highest = 0
  await Promise.all(
    Array.from({ length: 50 }, () =>
      limiter.run(async () => {
        running++
        highest = Math.max(highest, running)
        await settle()
        running--
      }),
    ),
  )
  t.equal(highest, 3)
  t.equal(limiter.maxInFlight, 3)
})

t.test('the limit must be a positive integer', async (t) => {
  t.throws(() => createLimiter(0), RangeError)
  t.throws(() => createLimiter(1.5), RangeError)
})
