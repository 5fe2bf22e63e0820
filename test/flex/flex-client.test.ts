import t from 'tap'
import { classifyRows } from '../../src/flex/crew-lines.ts'
import { type FlexCallInfo, FlexClient, type FlexClientOptions } from '../../src/flex/flex-client.ts'
import { FlexError } from '../../src/flex/flex-errors.ts'
import {
  type AddResponseShape,
  fixture,
  type ResponseShape,
  startFakeFlex,
} from '../helpers/fake-flex/fake-flex.ts'
import { waitFor } from '../helpers/wait.ts'

const TOKEN = 'tok-s3cr3t-4242'
const fake = await startFakeFlex({ token: TOKEN })
t.teardown(() => fake.close())
t.beforeEach(() => fake.reset())

/** A client of the fake that never really sleeps; `sleeps` and `calls` record what it did. */
function flexClient(options: Partial<FlexClientOptions> = {}) {
  const sleeps: number[] = []
  const calls: FlexCallInfo[] = []
  const client = new FlexClient({
    baseUrl: fake.url,
    authToken: TOKEN,
    timeoutMs: 2_000,
    maxAttempts: 3,
    sleep: async (ms) => {
      sleeps.push(ms)
    },
    random: () => 0.5,
    onCall: (call) => calls.push(call),
    ...options,
  })
  return { client, sleeps, calls }
}

const callsTo = (endpoint: string) => fake.calls.filter((call) => call.endpoint === endpoint)

/** The element's contact lines as the reconciler would see them, with these resources known. */
async function linesOf(client: FlexClient, elementId: string, known: string[] = [], roles: string[] = []) {
  const rows = await client.listRows(elementId)
  const { lines, unclassifiable } = classifyRows(rows, {
    isKnownResource: (id) => known.includes(id),
    isKnownRole: (id) => roles.includes(id),
  })
  if (unclassifiable.length > 0) throw new Error(`unclassifiable rows: ${JSON.stringify(unclassifiable)}`)
  return lines.map(({ position, ...line }) => line)
}

t.test('list reads every row variant and skips rows of other kinds', async (t) => {
  const { client } = flexClient()
  type Variant = Pick<
    ResponseShape,
    'rowType' | 'kindSpelling' | 'rowResource' | 'rowRole' | 'nesting' | 'ids'
  >
  const variants: Variant[] = []
  for (const rowType of ['managedResourceLineItemType', 'type', 'absent'] as const)
    for (const kindSpelling of rowType === 'absent'
      ? (['contact'] as const)
      : (['contact', 'Contact'] as const))
      for (const rowResource of [
        'resourceId',
        'resource.id',
        'resource.resourceId',
        'contact-column',
      ] as const)
        for (const rowRole of ['businessRoleId', 'businessRole.id', 'business-role-column', 'none'] as const)
          for (const nesting of ['flat', 'container'] as const)
            for (const ids of ['string', 'number'] as const)
              variants.push({ rowType, kindSpelling, rowResource, rowRole, nesting, ids })

  for (const variant of variants) {
    fake.reset()
    Object.assign(fake.shape, variant)
    const withRole = fake.addLineByHand('el-1', '501', '77')
    const withoutRole = fake.addLineByHand('el-1', 'tech-b')
    fake.addRawRow('el-1', { id: 9001, managedResourceLineItemType: 'equipment', resourceId: 'x' })
    fake.addRawRow('el-1', { id: 9002, type: 'labor' })
    fake.addRawRow('el-1', { id: null, type: 'note', resource: 'anything' })

    const lines = await linesOf(client, 'el-1', ['501', 'tech-b'], ['77'])
    const roles = variant.rowRole === 'none' ? [{}, {}] : [{ businessRoleId: '77' }, { businessRoleId: null }]
    t.same(
      lines,
      [
        { lineItemId: withRole, resourceId: '501', ...roles[0] },
        { lineItemId: withoutRole, resourceId: 'tech-b', ...roles[1] },
      ],
      JSON.stringify(variant),
    )
  }
})

t.test('list asks for the contact and business-role columns, uncached, like real callers', async (t) => {
  const { client } = flexClient()
  await client.listRows('el-q')
  const [call] = callsTo('list')
  const url = new URL(call?.path ?? '', 'http://x')
  t.same(url.searchParams.getAll('codeList'), ['contact', 'business-role'])
  t.equal(url.searchParams.get('node'), 'root')
  t.match(url.searchParams.get('_dc'), /^\d+$/)
})

t.test('list of an element with no crew is empty', async (t) => {
  t.same(await flexClient().client.listRows('el-empty'), [])
})

t.test('ids are encoded as path segments', async (t) => {
  const { client } = flexClient()
  const elementId = 'el/1 ü?#'
  const { lineItemId } = await client.addResource(elementId, 'tech/7')
  t.same(fake.lines(elementId), [{ id: lineItemId, resourceId: 'tech/7', businessRoleId: null }])
  t.same(
    (await linesOf(client, elementId)).map((line) => line.resourceId),
    ['tech/7'],
  )
})

t.test('add returns the new line id from every answer shape, null when there is none', async (t) => {
  const { client } = flexClient()
  const shapes: AddResponseShape[] = [
    'real',
    'id',
    'lineItemId',
    'data.id',
    'data.lineItemId',
    'addedResourceLineIds',
  ]
  for (const add of shapes) {
    for (const ids of ['string', 'number'] as const) {
      Object.assign(fake.shape, { add, ids })
      const { lineItemId } = await client.addResource('el-add', `tech-${add}-${ids}`)
      const created = fake.lines('el-add').find((line) => line.resourceId === `tech-${add}-${ids}`)
      t.equal(lineItemId, created?.id, `${add} as ${ids}`)
    }
  }
  fake.shape.add = 'none'
  t.same(await client.addResource('el-add', 'tech-none'), { lineItemId: null })
  t.ok(
    fake.lines('el-add').some((line) => line.resourceId === 'tech-none'),
    'the line exists all the same',
  )
  fake.answer('add', { status: 201 })
  t.same(
    await client.addResource('el-add', 'tech-empty'),
    { lineItemId: null },
    'an empty body names no line',
  )
})

t.test('remove deletes the line, then reports it already gone', async (t) => {
  const { client } = flexClient()
  const lineItemId = fake.addLineByHand('el-rm', 'tech-1')
  t.equal(await client.removeLine(lineItemId), 'removed')
  t.same(fake.lines('el-rm'), [])
  t.equal(await client.removeLine(lineItemId), 'already-gone')
  t.equal(await client.removeLine('never-existed'), 'already-gone')
})

t.test('set-role sends the exact body and sets the role', async (t) => {
  const { client } = flexClient()
  const lineItemId = fake.addLineByHand('el-role', 'tech-1')
  await client.setBusinessRole('el-role', lineItemId, 'role-42')
  const [call] = callsTo('set-role')
  t.equal(call?.method, 'POST')
  t.equal(call?.path, '/f5/api/line-item/el-role/row-data/')
  t.same(call?.body, { lineItemId, fieldType: 'business-role', payloadValue: 'role-42' })
  t.match(await linesOf(client, 'el-role'), [{ lineItemId, businessRoleId: 'role-42' }])
})

t.test('set-role on a line that is gone fails without retrying', async (t) => {
  const { client } = flexClient()
  const error = await client.setBusinessRole('el-role', 'gone', 'role-1').catch((e: unknown) => e)
  t.match(error, { kind: 'http', status: 404, endpoint: 'set-role', retryable: false, attempts: 1 })
  t.equal(callsTo('set-role').length, 1)
})

t.test('every call carries the token', async (t) => {
  const { client } = flexClient()
  const lineItemId = fake.addLineByHand('el-tok', 'tech-1')
  await client.addResource('el-tok', 'tech-2')
  await client.setBusinessRole('el-tok', lineItemId, 'r')
  await client.listRows('el-tok')
  await client.removeLine(lineItemId)
  t.equal(fake.calls.length, 4)
  t.ok(fake.calls.every((call) => call.authToken === TOKEN && call.status !== 401))
})

t.test('an add sends the form real callers send', async (t) => {
  const { client } = flexClient()
  await client.addResource('el-form', 'tech-1')
  const [call] = callsTo('add')
  t.equal(
    call?.body,
    'resourceParentId=&managedResourceLineItemType=contact&quantity=1&parentLineItemId=&nextSiblingId=',
  )
  t.equal(fake.lines('el-form').length, 1)
})

t.test('idempotent calls are retried on transient failures', async (t) => {
  t.test('list: 500 twice, then the answer', async (t) => {
    const { client, sleeps, calls } = flexClient()
    fake.addLineByHand('el-r', 'tech-1')
    fake.fail('list', { status: 500, times: 2 })
    t.match(await linesOf(client, 'el-r'), [{ resourceId: 'tech-1' }])
    t.equal(callsTo('list').length, 3)
    t.same(sleeps, [50, 100], 'full jitter below 100 ms, then 200 ms (random() = 0.5)')
    t.same(
      calls.map(({ durationMs, ...call }) => call),
      [
        { endpoint: 'list', outcome: 'http', status: 500, attempt: 1 },
        { endpoint: 'list', outcome: 'http', status: 500, attempt: 2 },
        { endpoint: 'list', outcome: 'ok', status: 200, attempt: 3 },
      ],
    )
  })

  t.test('list: 503 waits as Retry-After says, capped', async (t) => {
    const { client, sleeps } = flexClient({ maxAttempts: 4, maxRetryAfterMs: 5_000 })
    fake.fail('list', { status: 503, retryAfter: '2' })
    fake.fail('list', { status: 503, retryAfter: '3600' })
    fake.fail('list', { status: 503 })
    t.same(await client.listRows('el-r'), [])
    t.same(sleeps, [2_000, 5_000, 200], 'Retry-After honored, then capped; none: the usual backoff')
    t.equal(callsTo('list').length, 4)
  })

  t.test('list: timeouts', async (t) => {
    const { client, calls } = flexClient({ timeoutMs: 100 })
    fake.hang('list', 2)
    t.same(await client.listRows('el-r'), [])
    t.same(
      calls.map((call) => [call.outcome, call.status]),
      [
        ['timeout', undefined],
        ['timeout', undefined],
        ['ok', 200],
      ],
    )
  })

  t.test('remove: 503, then removed', async (t) => {
    const { client } = flexClient()
    const lineItemId = fake.addLineByHand('el-r', 'tech-1')
    fake.fail('remove', { status: 503 })
    t.equal(await client.removeLine(lineItemId), 'removed')
    t.equal(callsTo('remove').length, 2)
  })

  t.test('set-role: timeout, then set', async (t) => {
    const { client } = flexClient({ timeoutMs: 100 })
    const lineItemId = fake.addLineByHand('el-r', 'tech-1')
    fake.hang('set-role')
    await client.setBusinessRole('el-r', lineItemId, 'role-1')
    t.equal(fake.lines('el-r')[0]?.businessRoleId, 'role-1')
    t.equal(callsTo('set-role').length, 2)
  })
})

t.test('retries stop after maxAttempts with the last failure', async (t) => {
  const { client, sleeps } = flexClient({ maxAttempts: 3 })
  fake.fail('list', { status: 502, times: 10 })
  const error = await client.listRows('el-x').catch((e: unknown) => e)
  t.ok(error instanceof FlexError)
  t.match(error, { kind: 'http', status: 502, endpoint: 'list', retryable: true, attempts: 3 })
  t.match(
    (error as Error).message,
    /^Flex list \(GET \/line-item\/el-x\/row-data\/\) failed after 3 attempts: HTTP 502/,
  )
  t.equal(callsTo('list').length, 3)
  t.equal(sleeps.length, 2, 'no sleep after the last attempt')

  fake.reset()
  const timeouts = flexClient({ timeoutMs: 50, maxAttempts: 2 })
  fake.hang('list', 2)
  t.match(await timeouts.client.listRows('el-x').catch((e: unknown) => e), {
    kind: 'timeout',
    endpoint: 'list',
    retryable: true,
    attempts: 2,
    status: undefined,
  })
})

t.test('network errors are retried, then reported', async (t) => {
  const gone = await startFakeFlex({ token: TOKEN })
  const url = gone.url
  await gone.close()
  const { client, sleeps } = flexClient({ baseUrl: url })
  const error = await client.removeLine('1').catch((e: unknown) => e)
  t.match(error, { name: 'FlexError', kind: 'network', endpoint: 'remove', retryable: true, attempts: 3 })
  t.match((error as Error).message, /network error: .*ECONNREFUSED/)
  t.equal(sleeps.length, 2)
})

t.test('client errors are not retried', async (t) => {
  const wrongToken = flexClient({ authToken: 'wrong' })
  t.match(await wrongToken.client.listRows('el-x').catch((e: unknown) => e), {
    kind: 'unauthorized',
    status: 401,
    retryable: false,
    attempts: 1,
  })
  fake.fail('remove', { status: 400, body: JSON.parse(fixture('error-exception.json')) })
  const refused = await flexClient()
    .client.removeLine('1')
    .catch((e: unknown) => e)
  t.match(refused, { kind: 'http', status: 400, retryable: false })
  t.match(
    (refused as Error).message,
    /HTTP 400 Bad Request: Resource is not available/,
    "Flex's exceptionMessage",
  )
  t.equal(fake.calls.length, 2, 'one call each')
})

t.test('a 429 is not retried: it tells the caller when to come back', async (t) => {
  const { client, sleeps } = flexClient()
  fake.fail('list', { status: 429, retryAfter: '120' })
  t.match(await client.listRows('el-x').catch((e: unknown) => e), {
    kind: 'rate-limited',
    status: 429,
    retryAfterMs: 120_000,
    retryable: false,
    attempts: 1,
  })
  fake.fail('remove', { status: 429 })
  t.match(await client.removeLine('1').catch((e: unknown) => e), {
    kind: 'rate-limited',
    retryAfterMs: undefined,
  })
  t.same(sleeps, [])
  t.equal(fake.calls.length, 2)
})

t.test('answers that are not answers fail every call, unretried and unfollowed', async (t) => {
  const calls: [string, (client: FlexClient) => Promise<unknown>][] = [
    ['list', (client) => client.listRows('el-u')],
    ['add', (client) => client.addResource('el-u', 'tech-1')],
    ['set-role', (client) => client.setBusinessRole('el-u', 'line-1', 'role-1')],
    ['remove', (client) => client.removeLine('line-1')],
  ]
  for (const [endpoint, call] of calls) {
    const faults: [string, () => void, object][] = [
      [
        'login page, 200',
        () => fake.answerLoginPage(endpoint as 'list'),
        { kind: 'unauthorized', status: 200 },
      ],
      [
        'redirect to login',
        () => fake.redirectToLogin(endpoint as 'list'),
        { kind: 'unauthorized', status: 302 },
      ],
      ['success: false', () => fake.refuse(endpoint as 'list'), { kind: 'rejected', status: 200 }],
      ['403', () => fake.fail(endpoint as 'list', { status: 403 }), { kind: 'unauthorized', status: 403 }],
    ]
    for (const [name, inject, expected] of faults) {
      fake.reset()
      inject()
      const { client, sleeps } = flexClient()
      const error = await call(client).catch((e: unknown) => e)
      t.match(
        error,
        { name: 'FlexError', endpoint, retryable: false, attempts: 1, ...expected },
        `${endpoint}: ${name}`,
      )
      t.equal(fake.calls.length, 1, `${endpoint}: ${name}: one call, no redirect followed`)
      t.same(sleeps, [])
      t.same(fake.lines('el-u'), [], `${endpoint}: ${name}: nothing done`)
    }
  }
  fake.reset()
  fake.refuse('add')
  t.match(
    (
      (await flexClient()
        .client.addResource('el-u', 'tech-1')
        .catch((e: unknown) => e)) as Error
    ).message,
    /Flex refused it: success false, "Line item could not be modified"/,
  )
})

t.test('an add is never retried', async (t) => {
  t.test('500: one POST, no line', async (t) => {
    const { client, sleeps } = flexClient()
    fake.fail('add', { status: 500, times: 5 })
    const error = await client.addResource('el-a', 'tech-1').catch((e: unknown) => e)
    t.match(error, { kind: 'http', status: 500, endpoint: 'add', retryable: true, attempts: 1 })
    t.equal(callsTo('add').length, 1)
    t.same(sleeps, [])
  })

  t.test('timeout: one POST', async (t) => {
    const { client } = flexClient({ timeoutMs: 50 })
    fake.hang('add', 5)
    t.match(await client.addResource('el-a', 'tech-1').catch((e: unknown) => e), {
      kind: 'timeout',
      endpoint: 'add',
      attempts: 1,
    })
    t.equal(callsTo('add').length, 1)
  })

  for (const how of ['drop', 'error', 'hang'] as const) {
    t.test(
      `answer lost (${how}) after the line was made: one POST, and listing finds the line`,
      async (t) => {
        const { client } = flexClient({ timeoutMs: 100 })
        fake.loseAddResponse(1, how)
        const error = await client.addResource('el-a', 'tech-lost').catch((e: unknown) => e)
        const kind = { drop: 'network', error: 'http', hang: 'timeout' }[how]
        t.match(error, { kind, endpoint: 'add', retryable: true, attempts: 1 })
        t.equal(callsTo('add').length, 1)
        t.match(await linesOf(client, 'el-a'), [{ resourceId: 'tech-lost' }])
      },
    )
  }
})

t.test('malformed answers are bad-response errors, never an empty crew', async (t) => {
  const { client } = flexClient()
  const cases: [string, unknown, RegExp][] = [
    ['not JSON', 'rows: none', /the answer is not JSON: rows: none/],
    ['an object, not an array', { rows: [] }, /the row data is not a list/],
    ['null', null, /the row data is not a list/],
  ]
  for (const [name, body, problem] of cases) {
    fake.reset()
    fake.answer('list', { status: 200, body })
    const error = await client.listRows('el-bad').catch((e: unknown) => e)
    t.match(
      error,
      { kind: 'bad-response', endpoint: 'list', status: 200, retryable: false, attempts: 1 },
      name,
    )
    t.match((error as Error).message, problem, name)
    t.equal(fake.calls.length, 1, `${name}: not retried`)
  }

  fake.answer('add', { status: 200, body: { id: { nested: true } } })
  t.match(await client.addResource('el-bad', 'tech-1').catch((e: unknown) => e), {
    kind: 'bad-response',
    endpoint: 'add',
  })
})

t.test('an answer larger than maxAnswerBytes fails as bad-response, its read stopped there', async (t) => {
  const MiB = 1024 * 1024
  const { client, calls } = flexClient()
  const tooLarge =
    /Flex list \(GET \/line-item\/el-huge\/row-data\/\) failed after 1 attempt: answer larger than 4194304 bytes \(FLEX_MAX_ANSWER_BYTES\)/

  t.test('32 MB (200,000 rows) streamed', async (t) => {
    fake.streamList({ bytes: 32 * MiB })
    const error = await client.listRows('el-huge').catch((e: unknown) => e)
    t.match(error, { kind: 'bad-response', endpoint: 'list', retryable: false, attempts: 1 })
    t.match((error as Error).message, tooLarge)
    t.equal(fake.calls.length, 1, 'not retried')
    t.match(calls, [{ endpoint: 'list', outcome: 'bad-response' }])
    await waitFor('the fake to see the connection closed', () => fake.streamedBytes.length === 1 || undefined)
    const sent = fake.streamedBytes[0] ?? Infinity
    // What socket buffers hold beside the 4 MiB read; far from the 32 MB the fake would have sent.
    t.ok(sent < 16 * MiB, `the fake wrote ${sent} bytes before the client hung up`)
  })

  t.test('a stream without end', async (t) => {
    fake.streamList({})
    const error = await client.listRows('el-huge').catch((e: unknown) => e)
    t.match(error, { kind: 'bad-response', endpoint: 'list', retryable: false })
    t.match((error as Error).message, tooLarge)
    await waitFor('the endless stream to end', () => fake.streamedBytes.length === 1 || undefined)
  })

  t.test('a Content-Length past the bound is refused before its body is read', async (t) => {
    const small = flexClient({ maxAnswerBytes: 1_000 }).client
    fake.answer('list', { status: 200, body: JSON.stringify([{ note: 'x'.repeat(2_000) }]) })
    t.match(await small.listRows('el-huge').catch((e: unknown) => e), {
      kind: 'bad-response',
      message: /answer larger than 1000 bytes/,
    })
  })

  t.test('an answer of exactly the bound is read', async (t) => {
    const body = JSON.stringify([{ note: 'x'.repeat(1_000) }])
    const exact = flexClient({ maxAnswerBytes: Buffer.byteLength(body) }).client
    fake.answer('list', { status: 200, body })
    t.equal((await exact.listRows('el-huge')).length, 1, 'read whole')
    const oneShort = flexClient({ maxAnswerBytes: Buffer.byteLength(body) - 1 }).client
    fake.answer('list', { status: 200, body })
    t.match(await oneShort.listRows('el-huge').catch((e: unknown) => e), { kind: 'bad-response' })
  })

  t.test('a row of 100,000 fields keeps 32 of their names', async (t) => {
    const wide = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`f${i}`, i]))
    fake.answer('list', { status: 200, body: [{ id: 'line-wide', ...wide }] })
    const [row] = await client.listRows('el-wide')
    t.equal(row?.fields.length, 32)
    t.same(row?.fields.slice(0, 2), ['id', 'f0'])
  })

  t.test('a 500 with a huge error page is still a 500: only its start is read', async (t) => {
    const page = `<html><body>Proxy error ${'.'.repeat(8 * MiB)}</body></html>`
    fake.fail('list', { status: 500, body: page, times: 3 })
    const error = await client.listRows('el-huge').catch((e: unknown) => e)
    t.match(error, { kind: 'http', status: 500, retryable: true, attempts: 3 })
    t.match((error as Error).message, /HTTP 500 Internal Server Error: <html><body>Proxy error \.\.\./)
  })
})

/** The message and stack of an error and of every cause behind it, as a logger would print them. */
function everythingSaid(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  return `${error.message}\n${error.stack}\n${error.cause === undefined ? '' : everythingSaid(error.cause)}`
}

t.test('the token never appears in an error', async (t) => {
  const { client } = flexClient({ timeoutMs: 50, maxAttempts: 1 })
  const list = () => client.listRows('el-t')
  const failures: [() => void, () => Promise<unknown>][] = [
    [() => fake.fail('list', { status: 500, body: `token ${TOKEN} is not allowed here` }), list],
    [() => fake.fail('list', { status: 403, body: `${'x'.repeat(190)}${TOKEN}` }), list],
    [() => fake.answer('list', { status: 200, body: `<p>${TOKEN}</p>` }), list],
    [() => fake.answer('list', { status: 200, body: `token ${TOKEN}` }), list],
    [() => fake.hang('list'), list],
    [() => fake.loseAddResponse(1, 'drop'), () => client.addResource('el-t', 'tech-1')],
  ]
  const errors: unknown[] = []
  for (const [inject, call] of failures) {
    inject()
    errors.push(await call().catch((e: unknown) => e))
  }
  t.same(
    errors.map((error) => (error as FlexError).kind),
    ['http', 'unauthorized', 'unauthorized', 'bad-response', 'timeout', 'network'],
  )
  for (const error of errors) {
    const said = everythingSaid(error)
    t.notOk(said.includes(TOKEN.slice(0, 8)), (error as Error).message)
  }
  t.match((errors[0] as Error).message, /HTTP 500 Internal Server Error: token \[redacted\] is not allowed/)
})

t.test('an empty token is refused up front', async (t) => {
  t.throws(() => flexClient({ authToken: '' }), /needs an auth token/)
})
