import t from 'tap'
import { FlexError } from '../../src/flex/flex-errors.ts'
import { parseRetryAfter, type RetryPolicy, retryDelayMs, withRetries } from '../../src/flex/retry.ts'

const policy = (overrides: Partial<RetryPolicy> = {}): RetryPolicy => ({
  maxAttempts: 3,
  baseDelayMs: 100,
  maxDelayMs: 1_000,
  maxRetryAfterMs: 5_000,
  sleep: async () => {},
  random: () => 1,
  ...overrides,
})

t.test('backoff doubles up to its ceiling, scaled by the jitter', async (t) => {
  t.same(
    [1, 2, 3, 4, 5].map((n) => retryDelayMs(policy(), n, undefined)),
    [100, 200, 400, 800, 1_000],
  )
  t.equal(retryDelayMs(policy({ random: () => 0.25 }), 3, undefined), 100)
  t.equal(retryDelayMs(policy({ random: () => 0 }), 3, undefined), 0)
})

t.test('a Retry-After wins over the backoff, up to its cap', async (t) => {
  t.equal(retryDelayMs(policy(), 1, 3_000), 3_000)
  t.equal(retryDelayMs(policy(), 1, 60_000), 5_000)
  t.equal(retryDelayMs(policy(), 1, 0), 0)
})

t.test('Retry-After is read as seconds or as an HTTP date', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z')
  t.equal(parseRetryAfter('3', now), 3_000)
  t.equal(parseRetryAfter(' 0 ', now), 0)
  t.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now), 10_000)
  t.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0, 'a date in the past: no wait')
  t.equal(parseRetryAfter('soon', now), undefined)
  t.equal(parseRetryAfter('-1', now), undefined)
  t.equal(parseRetryAfter('', now), undefined)
  t.equal(parseRetryAfter(null, now), undefined)
})

t.test('only retryable FlexErrors are retried', async (t) => {
  const transient = new FlexError('down', { kind: 'http', status: 503, endpoint: 'list', attempts: 1 })
  const permanent = new FlexError('bad', { kind: 'http', status: 400, endpoint: 'list', attempts: 1 })
  for (const [error, expectedAttempts] of [
    [transient, 3],
    [permanent, 1],
    [new TypeError('a bug'), 1],
  ] as const) {
    let attempts = 0
    await t.rejects(
      withRetries(policy(), async () => {
        attempts++
        throw error
      }),
      error,
    )
    t.equal(attempts, expectedAttempts, error.message)
  }
})

t.test('retryable means transient', async (t) => {
  const retryable = (details: Omit<ConstructorParameters<typeof FlexError>[1], 'endpoint' | 'attempts'>) =>
    new FlexError('x', { ...details, endpoint: 'add', attempts: 1 }).retryable
  t.ok(retryable({ kind: 'timeout' }))
  t.ok(retryable({ kind: 'network' }))
  t.ok(retryable({ kind: 'http', status: 500 }))
  t.notOk(retryable({ kind: 'http', status: 404 }))
  t.notOk(retryable({ kind: 'bad-response', status: 200 }))
  t.notOk(retryable({ kind: 'rate-limited', status: 429 }), 'a 429 defers the run instead')
  t.notOk(retryable({ kind: 'unauthorized', status: 200 }), 'a login page will not go away')
  t.notOk(retryable({ kind: 'rejected', status: 200 }), 'Flex said no')
})
