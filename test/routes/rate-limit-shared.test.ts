import { randomUUID } from 'node:crypto'
import { setTimeout as delay } from 'node:timers/promises'
import type { FastifyInstance } from 'fastify'
import t, { type Test } from 'tap'
import { build, TEST_AUTHORIZATION } from '../helpers/build-app.ts'
import { calendarsUrl } from '../helpers/calendars.ts'
import { captureLog, type LogLine } from '../helpers/log-capture.ts'
import { closedPort, MACHINE_REDIS_URL, startOwnRedis } from '../helpers/redis-server.ts'
import { waitFor } from '../helpers/wait.ts'

const FALLBACK_MESSAGE = /^rate limit: Redis does not answer/
const RESTORED_MESSAGE = /^rate limit: Redis answers again/

interface Instance {
  app: FastifyInstance
  log: LogLine[]
}

/** Three app instances over one database, sharing `redisUrl` under a prefix of this test's own. */
async function threeInstances(
  t: Test,
  redisUrl: string,
  max: number,
  extraEnv: Record<string, string> = {},
): Promise<Instance[]> {
  const env = {
    RATE_LIMIT_MAX: String(max),
    RATE_LIMIT_WINDOW_MS: '600000',
    RATE_LIMIT_REDIS_URL: redisUrl,
    // Other test runs use the machine's Redis at the same time: a budget of this test's own.
    RATE_LIMIT_REDIS_PREFIX: `rostersync-test:${randomUUID()}:`,
    ...extraEnv,
  }
  const instances: Instance[] = []
  let databaseUrl: string | undefined
  for (let i = 0; i < 3; i++) {
    const log = captureLog()
    const built = await build(t, {
      databaseUrl,
      env,
      overrides: { logger: { level: 'info', stream: log.stream } },
    })
    databaseUrl = built.databaseUrl
    instances.push({ app: built.app, log: log.lines })
  }
  return instances
}

const get = (app: FastifyInstance) =>
  app.inject({ method: 'GET', url: calendarsUrl('limited'), headers: { authorization: TEST_AUTHORIZATION } })

/** `count` requests of one credential at once, spread round-robin over the instances. */
async function burst(instances: Instance[], count: number) {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const index = i % instances.length
      const instance = instances[index] as Instance
      const answer = await get(instance.app)
      return { index, status: answer.statusCode }
    }),
  )
}

const countStatus = (answers: { status: number }[], status: number) =>
  answers.filter((answer) => answer.status === status).length

async function sharedGauge(app: FastifyInstance): Promise<number> {
  const text = (await app.inject({ method: 'GET', url: '/metrics' })).body
  const match = /^rostersync_rate_limit_shared (\d+)$/m.exec(text)
  return Number(match?.[1])
}

const linesMatching = (log: LogLine[], pattern: RegExp) => log.filter((line) => pattern.test(line.msg ?? ''))

t.test(
  'three instances sharing Redis accept at most RATE_LIMIT_MAX requests of one credential',
  async (t) => {
    const instances = await threeInstances(t, MACHINE_REDIS_URL, 10)
    const answers = await burst(instances, 45)
    t.equal(countStatus(answers, 200), 10, 'exactly RATE_LIMIT_MAX answered 200 across the three instances')
    t.equal(countStatus(answers, 429), 35, 'the rest 429')
    for (const [index, instance] of instances.entries()) {
      t.equal(await sharedGauge(instance.app), 1, `instance ${index} counts in Redis`)
      t.same(linesMatching(instance.log, FALLBACK_MESSAGE), [], `instance ${index} never fell back`)
    }
    const remaining = await get(instances[0]?.app as FastifyInstance)
    t.equal(remaining.headers['x-ratelimit-remaining'], '0', 'the headers show the shared count')
  },
)

t.test('Redis stopped mid-test: every answer a 2xx or a 429, limits per instance, said once', async (t) => {
  const redis = await startOwnRedis(t)
  const max = 5
  const instances = await threeInstances(t, redis.url, max)
  const before = await burst(instances, 4)
  t.equal(countStatus(before, 200), 4, 'within the shared budget')

  // Requests in flight while Redis dies, and after.
  let stopped = false
  const during: { index: number; status: number }[] = []
  const load = (async () => {
    while (!stopped) {
      during.push(...(await burst(instances, 6)))
      // Answers that need no socket (Redis refused at once) would otherwise starve the event loop.
      await delay(5)
    }
  })()
  await redis.kill()
  const after = await burst(instances, 3 * (max + 3))
  stopped = true
  await load

  const all = [...before, ...during, ...after]
  t.same(
    all.filter((answer) => answer.status !== 200 && answer.status !== 429),
    [],
    'no answer other than 200 or 429',
  )
  for (const [index, instance] of instances.entries()) {
    const accepted = after.filter((answer) => answer.index === index && answer.status === 200).length
    t.ok(accepted <= max, `instance ${index} accepts at most RATE_LIMIT_MAX on its own (${accepted})`)
    t.equal(
      linesMatching(instance.log, FALLBACK_MESSAGE).length,
      1,
      `instance ${index} logs the fallback once`,
    )
    t.equal(await sharedGauge(instance.app), 0, `instance ${index}'s metric says per instance`)
  }
  t.ok(countStatus(after, 200) > 0, 'requests are still accepted while Redis is down')
  t.ok(countStatus(after, 429) > 0, 'and still limited')

  await redis.restart()
  const first = instances[0] as Instance
  await waitFor('the shared count again', async () => {
    await get(first.app)
    return (await sharedGauge(first.app)) === 1
  })
  t.equal(linesMatching(first.log, RESTORED_MESSAGE).length, 1, 'the return to Redis is logged once')
  const text = (await first.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(text, /^rostersync_rate_limit_local_counts_total [1-9]\d*$/m, 'local counts are counted')
})

t.test(
  'Redis unreachable from the start: the service starts, answers, and limits per instance',
  async (t) => {
    const port = await closedPort()
    const instances = await threeInstances(t, `redis://127.0.0.1:${port}`, 3)
    const answers = await burst(instances, 15)
    t.equal(countStatus(answers, 200), 9, 'RATE_LIMIT_MAX per instance')
    t.equal(countStatus(answers, 429), 6)
    for (const [index, instance] of instances.entries()) {
      t.equal(linesMatching(instance.log, FALLBACK_MESSAGE).length, 1, `instance ${index} says so once`)
      t.equal(await sharedGauge(instance.app), 0)
    }
  },
)

t.test('without RATE_LIMIT_REDIS_URL each instance has its own budget', async (t) => {
  const log = captureLog()
  const first = await build(t, {
    env: { RATE_LIMIT_MAX: '2' },
    overrides: { logger: { level: 'info', stream: log.stream } },
  })
  const second = await build(t, { databaseUrl: first.databaseUrl, env: { RATE_LIMIT_MAX: '2' } })
  const answers = await burst(
    [
      { app: first.app, log: [] },
      { app: second.app, log: [] },
    ],
    6,
  )
  t.equal(countStatus(answers, 200), 4, 'two instances allow twice the budget')
  t.equal(await sharedGauge(first.app), 0)
  t.same(linesMatching(log.lines, FALLBACK_MESSAGE), [], 'nothing to say about Redis')
})
