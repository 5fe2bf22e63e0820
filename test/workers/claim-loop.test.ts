import t from 'tap'
import { ClaimLoop } from '../../src/workers/claim-loop.ts'
import { waitFor } from '../helpers/wait.ts'

/**
 * The claim loop both workers share, on its own: work is a queue of numbers, and each run waits until
 * the test lets it finish (or its signal aborts). What the reconcile and webhook tests see through the
 * database, here in isolation: the slot bound, claiming again at once after a run, waking, and the
 * two steps of stopping.
 */

const silent = { warn() {}, error() {} }

/**
 * `claimable`: how many the claim may take now, due work or not (as a webhook endpoint at its
 * WEBHOOK_ENDPOINT_CONCURRENCY, or the next event of a resource whose last is in flight, holds back).
 * Each claim's take is recorded in `claims`.
 */
function harness(
  concurrency: number,
  due: number[],
  claimable: (runningNow: number) => number = () => Number.POSITIVE_INFINITY,
) {
  const queue = [...due]
  const running = new Map<number, { finish: () => void; signal: AbortSignal }>()
  const claims: number[][] = []
  const finished: number[] = []
  const cutShort: number[] = []
  let mostAtOnce = 0
  const loop = new ClaimLoop<number>({
    claim: async (max) => {
      const works = queue.splice(0, Math.min(max, claimable(running.size)))
      claims.push(works)
      return works
    },
    run: ({ work, signal }) =>
      new Promise<void>((resolve) => {
        const end = (how: 'finished' | 'cut short') => {
          if (!running.has(work)) return
          running.delete(work)
          ;(how === 'finished' ? finished : cutShort).push(work)
          resolve()
        }
        running.set(work, { finish: () => end('finished'), signal })
        mostAtOnce = Math.max(mostAtOnce, running.size)
        signal.addEventListener('abort', () => end('cut short'), { once: true })
      }),
    concurrency,
    // Long enough that only wake() or a finished run makes a slot look again within the test.
    pollMs: 60_000,
    failureMessage: 'test loop: failed',
    log: silent,
  })
  return {
    loop,
    queue,
    running,
    claims,
    finished,
    cutShort,
    mostAtOnce: () => mostAtOnce,
    finish: (work: number) => running.get(work)?.finish(),
  }
}

t.test(
  'at most `concurrency` runs at once; a slot freed by a finished run claims again at once',
  async (t) => {
    const h = harness(2, [1, 2, 3, 4])
    h.loop.start()
    await waitFor('both slots to run', () => h.running.size === 2)
    t.same([...h.running.keys()], [1, 2])
    h.finish(1)
    await waitFor('the freed slot to take the next', () => h.running.has(3))
    t.equal(h.mostAtOnce(), 2, 'never more than two at once')
    h.finish(2)
    h.finish(3)
    await waitFor('the last to run', () => h.running.has(4))
    h.finish(4)
    await h.loop.stop()
    t.same(h.finished, [1, 2, 3, 4])
  },
)

t.test(
  'a finished run ends an idle sleep: work the claim held back is taken at once, not at the next poll',
  async (t) => {
    // One at a time, though four slots are free: the claim takes one, fewer than asked, so the loop
    // sleeps; only the run's end can make the next claimable, and pollMs (60 s) is past the wait's bound.
    const h = harness(4, [1, 2, 3], (runningNow) => Math.max(0, 1 - runningNow))
    h.loop.start()
    await waitFor('the first to run', () => h.running.has(1))
    t.same(h.claims, [[1]], 'one claim for the four free slots took one')
    h.finish(1)
    await waitFor('the next, held back until now, to run', () => h.running.has(2))
    h.finish(2)
    await waitFor('the last to run', () => h.running.has(3))
    h.finish(3)
    await h.loop.stop()
    t.same(h.finished, [1, 2, 3])
    t.equal(h.mostAtOnce(), 1)
  },
)

t.test('wake() ends an idle sleep: new work is claimed before the next poll', async (t) => {
  const h = harness(4, [])
  h.loop.start()
  await waitFor('the loop to find nothing and sleep', () => h.claims.length === 1)
  await h.loop.stop().then(() => h.loop.start())
  await waitFor('the loop to find nothing again', () => h.claims.length === 2)
  t.same(h.claims, [[], []], 'an idle loop of four slots asks once, not once per slot')
  h.queue.push(7)
  h.loop.wake()
  await waitFor('the woken slot to take the new work', () => h.running.has(7))
  h.finish(7)
  await h.loop.stop()
  t.same(h.finished, [7])
})

t.test('stopClaiming(): the work in flight goes on and nothing more is claimed', async (t) => {
  const h = harness(2, [1, 2, 3, 4])
  h.loop.start()
  await waitFor('both slots to run', () => h.running.size === 2)
  h.loop.stopClaiming()
  t.notOk(h.loop.isClaiming)
  const claimsBefore = h.claims.length
  h.finish(1)
  h.finish(2)
  h.loop.wake()
  await h.loop.stop()
  t.same(h.finished, [1, 2], 'the runs in flight finished')
  t.equal(
    h.claims.length,
    claimsBefore,
    'no slot claimed after stopClaiming(), though two were freed and woken',
  )
  t.same(h.queue, [3, 4], 'the rest stays due')
})

t.test('stop({ cutShortAfterMs }): work still running then has its signal aborted', async (t) => {
  const h = harness(2, [1, 2])
  h.loop.start()
  await waitFor('both slots to run', () => h.running.size === 2)
  h.finish(1)
  await h.loop.stop({ cutShortAfterMs: 50 })
  t.same(h.finished, [1], 'the one that finished counts as finished')
  t.same(h.cutShort, [2], 'the one still running was cut short, and stop() waited for it to end')
})

t.test('stop() without a bound waits for the work in flight, however long', async (t) => {
  const h = harness(1, [1])
  h.loop.start()
  await waitFor('the slot to run', () => h.running.size === 1)
  let stopped = false
  const stopping = h.loop.stop().then(() => {
    stopped = true
  })
  await waitFor('the slot to have seen the stop', () => !h.loop.isClaiming)
  t.notOk(stopped, 'not stopped while the run goes on')
  t.notOk(h.running.get(1)?.signal.aborted, 'and the run is not cut short')
  h.finish(1)
  await stopping
  t.ok(stopped)
})

t.test('a claim that throws is logged and the slot backs off instead of spinning', async (t) => {
  const errors: string[] = []
  let calls = 0
  const loop = new ClaimLoop<number>({
    claim: async () => {
      calls++
      throw new Error('database unreachable')
    },
    run: async () => {},
    concurrency: 1,
    pollMs: 60_000,
    failureMessage: 'test loop: could not claim',
    log: { warn: () => {}, error: (_obj, msg) => errors.push(msg) },
  })
  loop.start()
  await waitFor('the failure to be logged', () => errors.length === 1)
  await loop.stop()
  t.equal(calls, 1, 'one claim, then a back-off (ended by stop), not a retry loop')
  t.same(errors, ['test loop: could not claim'])
})

/**
 * A loop over a queue the test fills, whose runs finish at once, told the next due time by
 * `nextDueInMs`: for the tests of how an idle loop waits.
 */
function queuedLoop(options: {
  pollMs: number
  nextDueInMs: () => Promise<number | undefined>
  log?: { warn(obj: object): void; error(obj: object): void }
}) {
  const queue: number[] = []
  const finished: number[] = []
  const loop = new ClaimLoop<number>({
    claim: async (max) => queue.splice(0, max),
    run: async ({ work }) => {
      finished.push(work)
    },
    concurrency: 2,
    pollMs: options.pollMs,
    nextDueInMs: options.nextDueInMs,
    failureMessage: 'test loop: failed',
    log: options.log ?? silent,
  })
  return { loop, queue, finished }
}

t.test('a failure to learn the next due time (the database gone) is logged; the loop goes on', async (t) => {
  const logged: unknown[] = []
  let asked = 0
  const { loop, queue, finished } = queuedLoop({
    pollMs: 20,
    nextDueInMs: async () => {
      asked++
      if (asked <= 2) throw new Error('terminating connection due to administrator command')
      return undefined
    },
    log: { warn: (obj) => logged.push(obj), error: (obj) => logged.push(obj) },
  })
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown) => unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  t.teardown(() => process.off('unhandledRejection', onUnhandled))
  loop.start()
  await waitFor('the loop to have asked past both failures', () => asked >= 3)
  queue.push(5)
  await waitFor('new work to be claimed and run after the failures', () => finished.includes(5))
  await loop.stop()
  t.equal(logged.length, 2, 'each failure logged once')
  t.same(unhandled, [], 'nothing escaped the loop')
  t.ok(loop.isClaiming === false)
})

t.test(
  'one claim takes work for every free slot; a short batch makes the loop wait for a run to end',
  async (t) => {
    const queue = [1, 2, 3, 4, 5]
    const asked: number[] = []
    const running = new Map<number, () => void>()
    const finished: number[] = []
    let mostAtOnce = 0
    const loop = new ClaimLoop<number>({
      // At most two at once, as an endpoint at WEBHOOK_ENDPOINT_CONCURRENCY 2 would give.
      claim: async (max) => {
        asked.push(max)
        return queue.splice(0, Math.min(max, 2 - running.size))
      },
      run: ({ work }) =>
        new Promise<void>((resolve) => {
          running.set(work, () => {
            running.delete(work)
            finished.push(work)
            resolve()
          })
          mostAtOnce = Math.max(mostAtOnce, running.size)
        }),
      concurrency: 4,
      pollMs: 60_000,
      failureMessage: 'test loop: failed',
      log: silent,
    })
    loop.start()
    await waitFor('two to run', () => running.size === 2)
    t.same(asked, [4], 'one call for the four free slots; it took two (fewer than asked): the loop sleeps')
    running.get(1)?.()
    await waitFor('the freed slot to take the next', () => running.has(3))
    t.same(asked, [4, 3], 'the run that ended woke the loop: one call for the three free slots')
    for (const work of [2, 3]) running.get(work)?.()
    await waitFor('the rest to run', () => running.has(4) && running.has(5))
    for (const work of [4, 5]) running.get(work)?.()
    await loop.stop()
    t.same(finished.toSorted(), [1, 2, 3, 4, 5])
    t.equal(mostAtOnce, 2)
  },
)

t.test('regroupMs: runs that end together, while others are in flight, share one claim', async (t) => {
  const queue = [1, 2, 3, 4, 5, 6]
  const asked: number[] = []
  const running = new Map<number, () => void>()
  const loop = new ClaimLoop<number>({
    claim: async (max) => {
      asked.push(max)
      return queue.splice(0, Math.min(max, 3 - running.size))
    },
    run: ({ work }) =>
      new Promise<void>((resolve) => {
        running.set(work, () => {
          running.delete(work)
          resolve()
        })
      }),
    concurrency: 3,
    pollMs: 60_000,
    // Long enough that both ends below fall in one window, however slow the machine.
    regroupMs: 2_000,
    failureMessage: 'test loop: failed',
    log: silent,
  })
  loop.start()
  await waitFor('three to run', () => running.size === 3)
  running.get(1)?.()
  // Well apart, yet both within the window.
  await new Promise((resolve) => setTimeout(resolve, 50))
  running.get(2)?.()
  await waitFor('the freed slots to be claimed for', () => asked.length === 2)
  t.same(asked, [3, 2], 'one claim for both freed slots, not one per end')
  await waitFor('two more to run', () => running.has(4) && running.has(5))
  for (const work of [3, 4, 5]) running.get(work)?.()
  await waitFor('the last to run', () => running.has(6))
  running.get(6)?.()
  await loop.stop()
  t.same(queue, [])
})

t.test(
  'work due now that cannot be claimed is asked for again after a pause, not in a busy loop',
  async (t) => {
    let claims = 0
    const loop = new ClaimLoop<number>({
      claim: async () => {
        claims++
        return []
      },
      run: async () => {},
      concurrency: 2,
      // Far longer than the test: only the due time can end the loop's sleeps.
      pollMs: 600_000,
      // Due now, and never claimable (another instance's, or a row a roster write holds).
      nextDueInMs: async () => 0,
      failureMessage: 'test loop: failed',
      log: silent,
    })
    loop.start()
    await new Promise((resolve) => setTimeout(resolve, 200))
    await loop.stop()
    // A fifth of a second holds a few claims after their pauses, not thousands.
    t.ok(claims >= 2, `asked again after its pause (${claims} claims)`)
    t.ok(claims <= 20, `no busy loop: ${claims} claims in 200 ms`)
  },
)

t.test(
  'an idle loop sleeps until the due time it was told of, and claims then, without a wake',
  async (t) => {
    let asked = 0
    const { loop, queue, finished } = queuedLoop({
      pollMs: 600_000,
      // The first answer: due in 30 ms; then nothing scheduled (the loop would sleep the poll).
      nextDueInMs: async () => (++asked === 1 ? 30 : undefined),
    })
    loop.start()
    await waitFor('the loop to have asked for the next due time', () => asked >= 1)
    queue.push(7)
    await waitFor('the work to run when it fell due', () => finished.includes(7))
    await loop.stop()
    t.same(finished, [7])
  },
)
