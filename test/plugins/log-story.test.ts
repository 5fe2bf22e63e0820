import { test } from 'tap'
import { build } from '../helpers/build-app.ts'
import { crewWorld, replaceRoster, roster, sync } from '../helpers/crew.ts'
import { captureLog, type LogLine } from '../helpers/log-capture.ts'

/** The log read as a person would, at info: what the instance does, what each sync did, refusals. */

const INFO = 30
const WARN = 40
const infoLogger = (log: ReturnType<typeof captureLog>) => ({ logger: { level: 'info', stream: log.stream } })

test('the start line says where Flex is, which workers run, the budget and the history kept; no secret', async (t) => {
  const log = captureLog()
  await crewWorld(t, 0, {
    env: {
      SYNC_WORKER: 'on',
      SYNC_WORKER_CONCURRENCY: '3',
      SYNC_POLL_MS: '700',
      SYNC_DEBOUNCE_MS: '1500',
      FLEX_CALLS_PER_HOUR: '500',
      HISTORY_KEEP_VERSIONS: '40',
    },
    overrides: infoLogger(log),
  })
  const start = log.lines.find((line) => String(line.msg).startsWith('rostersync ready'))
  t.equal(start?.level, INFO)
  t.match(
    start?.msg,
    /Flex at http:\/\/127\.0\.0\.1:\d+\/f5\/api; 3 reconcile workers \(poll 700 ms, debounce 1500 ms\); Flex call budget 500\/hour, 10000\/day; history keeps 40 versions and 30 days; tracing off/,
  )
  t.match(start?.settings, {
    flex: { configured: true, timeoutMs: 10_000, concurrency: 32 },
    workers: { running: true, concurrency: 3, pollMs: 700, debounceMs: 1500 },
    flexCallBudget: { perHour: 500, perDay: 10_000 },
    history: { keepVersions: 40, keepDays: 30 },
    tracing: { on: false },
  })
  const text = JSON.stringify(log.lines)
  t.notOk(text.includes('test-token'), 'the Flex token is in no line')
  t.notOk(text.includes('test-service-key'), 'no service key is in any line')
})

test('without Flex the start line says what to set, and a sync refusal is one info line without a stack', async (t) => {
  const log = captureLog()
  const { app } = await build(t, { overrides: infoLogger(log) })
  const start = log.lines.find((line) => String(line.msg).startsWith('rostersync ready'))
  t.match(
    start?.msg,
    /Flex not configured \(set FLEX_BASE_URL and FLEX_AUTH_TOKEN\): syncs are refused; no reconcile workers \(Flex is not configured\)/,
  )
  const response = await app.inject({ method: 'POST', url: '/v1/jobs/job-1/crew-calls/sound/sync' })
  t.equal(response.statusCode, 501)
  const refusal = log.lines.find((line) => String(line.msg).startsWith('Flex is not configured'))
  t.equal(refusal?.level, INFO, 'an expected refusal is logged at info')
  t.equal(refusal?.problem, 'flex-not-configured')
  t.notOk(refusal?.err, 'without the error and its stack')
  t.notOk(
    log.lines.some((line: LogLine) => line.level >= WARN),
    'nothing at warn or above',
  )
})

test('every sync run writes one line: crew call, trigger, status, counts, Flex calls, duration, error', async (t) => {
  const log = captureLog()
  const world = await crewWorld(t, 3, { env: { FLEX_MAX_ATTEMPTS: '1' }, overrides: infoLogger(log) })
  t.equal((await replaceRoster(world.app, roster(3))).statusCode, 200)
  t.equal((await sync(world.app)).status, 200)
  const runs = () => log.lines.filter((line) => line.syncRun !== undefined)
  t.equal(runs().length, 1)
  const [succeeded] = runs()
  t.equal(succeeded?.level, INFO)
  t.equal(
    succeeded?.msg,
    `sync succeeded: job-1/sound (manual) 3 added, 0 removed, 0 repaired, 0 adopted, 0 roles set; 4 Flex calls in ${(succeeded?.syncRun as { durationMs?: number } | undefined)?.durationMs} ms`,
  )
  t.match(succeeded?.syncRun, {
    jobId: 'job-1',
    department: 'sound',
    trigger: 'manual',
    status: 'succeeded',
    added: 3,
    removed: 0,
    flex_calls: 4,
    errors: [],
  })

  world.flex.fail('list', { status: 500 })
  t.equal((await sync(world.app)).status, 200)
  const failed = runs()[1]
  t.equal(failed?.level, WARN, 'a failed run is a warning')
  t.match(
    failed?.msg,
    /^sync failed: job-1\/sound \(manual\) 0 added, .*; 1 Flex calls in \d+ ms; list: Flex list .*HTTP 500/,
  )
  t.match(failed?.syncRun, { status: 'failed', errors: [{ operation: 'list' }] })
  t.notOk(failed?.err, 'no stack: the run records why')
})
