import { connect } from 'node:net'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { build, TEST_AUTHORIZATION } from '../helpers/build-app.ts'
import { calendarsUrl } from '../helpers/calendars.ts'
import { crewCallUrl } from '../helpers/crew.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

/**
 * Only well-formed text gets in (issue 28): a lone UTF-16 surrogate (JSON's `\ud800`) in any string is a
 * 400 naming the field, never a 500 (PostgreSQL refusing it) nor a U+FFFD stored in its place; ids refuse
 * every control character, free text all but tab, line feed and carriage return; a body in another
 * charset is a 415, one that is not UTF-8 a 400; and requests Node refuses before routing (431, 400) are
 * problem documents too. Each refusal writes nothing.
 */

const SECRET = 'a-test-secret-of-at-least-32-bytes!!'
const { app } = await build(t, { env: { AUTH_JWT_SECRET: SECRET } })

interface Problem {
  type: string
  status: number
  requestId: string
  detail?: string
  errors?: { in: string; pointer: string; detail: string }[]
}

const json = { 'content-type': 'application/json' }

async function expectRefusal(
  tt: Test,
  response: Awaited<ReturnType<typeof app.inject>>,
  status: number,
  field?: { in: string; pointer: string },
): Promise<Problem> {
  tt.equal(response.statusCode, status, `answered ${status}: ${response.body}`)
  tt.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE, 'as problem+json')
  const problem = response.json<Problem>()
  if (field) tt.match(problem.errors, [field], `names ${field.in} ${field.pointer}`)
  return problem
}

/** Lone surrogates, high and low, alone, reversed and mid-word: JSON.stringify sends each as its escape. */
const LONE = ['\ud800', '\udc00', '\udc00\ud800', 'a\udbffz'] as const

t.test('a lone surrogate in a calendar field is a 400 naming it; nothing is written', async (tt) => {
  for (const lone of LONE) {
    for (const field of ['calendarId', 'summary', 'description', 'timeZone'] as const) {
      const calendar: Record<string, string> = { calendarId: 'cal-1', summary: 'Work' }
      calendar[field] = `x${lone}`
      const text = JSON.stringify({ calendars: [calendar] })
      tt.match(text, /\\ud[89ab]|\\udc/, 'the body holds the escape')
      const response = await app.inject({
        method: 'PUT',
        url: calendarsUrl('u1'),
        headers: json,
        payload: text,
      })
      const problem = await expectRefusal(tt, response, 400, { in: 'body', pointer: `/calendars/0/${field}` })
      if (field !== 'timeZone') tt.match(problem.errors?.[0]?.detail, /well-formed/)
    }
  }
  const read = await app.inject({ method: 'GET', url: calendarsUrl('u1') })
  tt.same(read.json().calendars, [], 'the set is still empty')
})

t.test('a lone surrogate in a technician or crew-call field is a 400, not U+FFFD stored', async (tt) => {
  for (const lone of LONE) {
    for (const field of ['name', 'flexResourceId'] as const) {
      const body = { name: 'Ann', flexResourceId: 'res-1', [field]: `ok${lone}` }
      const text = JSON.stringify(body)
      const response = await app.inject({
        method: 'PUT',
        url: '/v1/technicians/t1',
        headers: json,
        payload: text,
      })
      await expectRefusal(tt, response, 400, { in: 'body', pointer: `/${field}` })
    }
    const crewCall = await app.inject({
      method: 'PUT',
      url: crewCallUrl('sound', 'job-wf'),
      headers: json,
      payload: JSON.stringify({ flexElementId: `el${lone}` }),
    })
    await expectRefusal(tt, crewCall, 400, { in: 'body', pointer: '/flexElementId' })
  }
  tt.equal((await app.inject({ method: 'GET', url: '/v1/technicians/t1' })).statusCode, 404, 'no technician')
  tt.equal((await app.inject({ method: 'GET', url: crewCallUrl('sound', 'job-wf') })).statusCode, 404)
})

t.test('a lone surrogate in an assignment, a role or a restore is a 400 naming it', async (tt) => {
  const roster = await app.inject({
    method: 'PUT',
    url: `${crewCallUrl('sound', 'job-wf')}/assignments`,
    headers: json,
    payload: '{"assignments":[{"technicianId":"t\\ud800","role":"SND-FOH-R\\udc00"}]}',
  })
  await expectRefusal(tt, roster, 400, { in: 'body', pointer: '/assignments/0/technicianId' })
  tt.match(roster.json<Problem>().errors, [{}, { pointer: '/assignments/0/role' }], 'and the role')
})

t.test('headers and parameters read as text must be well-formed too', async (tt) => {
  const keyed = await app.inject({
    method: 'PUT',
    url: '/v1/technicians/t2',
    headers: { 'idempotency-key': 'key-\ud800' },
    payload: { name: 'Ann', flexResourceId: 'res-2' },
  })
  await expectRefusal(tt, keyed, 400, { in: 'header', pointer: '/idempotency-key' })
  const ifMatch = await app.inject({
    method: 'PUT',
    url: calendarsUrl('u1'),
    headers: { 'if-match': '"1"\ud800' },
    payload: { calendars: [] },
  })
  await expectRefusal(tt, ifMatch, 400, { in: 'header', pointer: '/if-match' })
  const requestId = await app.inject({
    method: 'GET',
    url: '/v1/technicians',
    headers: { 'x-request-id': 'r\ud800' },
  })
  tt.equal(requestId.statusCode, 200, 'an x-request-id that is not a sane token is replaced, not refused')
  tt.not(requestId.headers['x-request-id'], 'r\ud800', 'by a generated id')
  const query = await app.inject({ method: 'GET', url: '/v1/technicians', query: { q: 'a\u0001' } })
  await expectRefusal(tt, query, 400, { in: 'query', pointer: '/q' })
  const path = await app.inject({ method: 'GET', url: '/v1/technicians/a%01b' })
  await expectRefusal(tt, path, 400, { in: 'path', pointer: '/technicianId' })
  const c1 = await app.inject({ method: 'GET', url: '/v1/technicians/a%C2%85b' })
  await expectRefusal(tt, c1, 400, { in: 'path', pointer: '/technicianId' })
})

t.test('ids refuse every control character; free text keeps tab, newline and CR, as sent', async (tt) => {
  for (const control of ['\u0001', '\t', '\n', '\r', '\u007f', '\u009f']) {
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/technicians/t3',
      payload: { name: 'Ann', flexResourceId: `res${control}3` },
    })
    await expectRefusal(tt, response, 400, { in: 'body', pointer: '/flexResourceId' })
  }
  for (const control of ['\u0000', '\u0007', '\u001b', '\u007f', '\u0085']) {
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/technicians/t3',
      payload: { name: `Ann${control}`, flexResourceId: 'res-3' },
    })
    await expectRefusal(tt, response, 400, { in: 'body', pointer: '/name' })
  }
  tt.equal(
    (await app.inject({ method: 'GET', url: '/v1/technicians/t3' })).statusCode,
    404,
    'nothing written',
  )

  const name = 'Ann\tBee\r\nCee 💩 é'
  const created = await app.inject({
    method: 'PUT',
    url: '/v1/technicians/t3',
    payload: { name, flexResourceId: 'res-💩' },
  })
  tt.equal(created.statusCode, 201, created.body)
  const read = await app.inject({ method: 'GET', url: '/v1/technicians/t3' })
  tt.equal(read.json().name, name, 'the name is stored exactly as sent')
  tt.equal(read.json().flexResourceId, 'res-💩', 'and the id, its surrogate pair included')
  const summary = 'Line one\r\n\tLine two'
  const calendars = await app.inject({
    method: 'PUT',
    url: calendarsUrl('u2'),
    payload: { calendars: [{ calendarId: 'c1', summary, description: summary }] },
  })
  tt.equal(calendars.statusCode, 200, calendars.body)
  tt.equal(calendars.json().calendars[0].summary, summary)
})

t.test('a body in another charset is a 415 naming UTF-8; one that is not UTF-8 a 400', async (tt) => {
  for (const charset of ['latin1', 'ISO-8859-1', 'utf-16', '"windows-1252"', '']) {
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/technicians/t4',
      headers: { 'content-type': `application/json; charset=${charset}` },
      payload: Buffer.from('{"name":"Andr\u00e9","flexResourceId":"res-4"}', 'latin1'),
    })
    const problem = await expectRefusal(tt, response, 415)
    tt.equal(problem.type, 'urn:rostersync:problem:unsupported-media-type')
    tt.match(problem.detail, 'application/json; charset=utf-8', 'names the charset to use')
  }
  const notUtf8 = await app.inject({
    method: 'PUT',
    url: '/v1/technicians/t4',
    headers: json,
    payload: Buffer.from('{"name":"Andr\u00e9","flexResourceId":"res-4"}', 'latin1'),
  })
  const problem = await expectRefusal(tt, notUtf8, 400)
  tt.match(problem.detail, /not valid UTF-8/)
  tt.equal(
    (await app.inject({ method: 'GET', url: '/v1/technicians/t4' })).statusCode,
    404,
    'nothing written',
  )

  for (const contentType of [
    'application/json; charset=utf-8',
    'application/json;charset=UTF-8',
    'application/json; charset="utf-8"',
    'application/json; charset=utf8',
  ]) {
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/technicians/t4',
      headers: { 'content-type': contentType },
      payload: Buffer.from('{"name":"Andr\u00e9","flexResourceId":"res-4"}', 'utf8'),
    })
    tt.ok(response.statusCode < 300, `${contentType}: ${response.statusCode}`)
  }
  tt.equal((await app.inject({ method: 'GET', url: '/v1/technicians/t4' })).json().name, 'Andr\u00e9')
})

t.test('a user token whose sub is not well-formed text is refused (401)', async (tt) => {
  for (const sub of ['user-\ud800', 'user\u0001']) {
    const token = await new SignJWT({ sub, role: 'admin' })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime('5m')
      .sign(new TextEncoder().encode(SECRET))
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/technicians/t5',
      headers: { authorization: `Bearer ${token}` },
      payload: { name: 'Ann', flexResourceId: 'res-5' },
    })
    tt.equal(response.statusCode, 401, response.body)
    tt.match(response.json<Problem>().detail, /sub claim is not an id/)
  }
})

/** Sends raw bytes on a socket and reads everything until the server closes it. */
function rawExchange(origin: string, request: string): Promise<string> {
  const { hostname, port } = new URL(origin)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) })
    const chunks: Buffer[] = []
    socket.on('data', (chunk) => chunks.push(chunk))
    socket.on('error', (error) => (chunks.length ? resolve(Buffer.concat(chunks).toString()) : reject(error)))
    socket.on('close', () => resolve(Buffer.concat(chunks).toString()))
    socket.write(request)
  })
}

function problemOf(answer: string): { status: number; headers: string; problem: Problem } {
  const [head = '', body = ''] = answer.split('\r\n\r\n')
  return { status: Number(head.split(' ')[1]), headers: head, problem: JSON.parse(body) as Problem }
}

t.test('requests Node refuses before routing are answered as problem+json', async (tt) => {
  const origin = await app.listen({ host: '127.0.0.1', port: 0 })
  const longQuery = await rawExchange(
    origin,
    `GET /v1/technicians?q=${'a'.repeat(100_000)} HTTP/1.1\r\nHost: x\r\nAuthorization: ${TEST_AUTHORIZATION}\r\n\r\n`,
  )
  const query = problemOf(longQuery)
  tt.equal(query.status, 431, 'a 100 KB query string: 431')
  tt.match(query.headers, /content-type: application\/problem\+json/i)
  tt.match(query.problem, { type: 'urn:rostersync:problem:header-fields-too-large', status: 431 })
  tt.match(query.headers, new RegExp(`x-request-id: ${query.problem.requestId}`, 'i'), 'with its request id')

  const longToken = problemOf(
    await rawExchange(
      origin,
      `GET /v1/technicians HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${'A'.repeat(100_000)}\r\n\r\n`,
    ),
  )
  tt.equal(longToken.status, 431, 'a 100 KB bearer token: 431')
  tt.match(longToken.problem.detail, /exceed \d+ bytes/)

  const malformed = problemOf(await rawExchange(origin, 'GET /v1/technicians HTTP/1.1\r\nHost x\r\n\r\n'))
  tt.equal(malformed.status, 400, 'a malformed header line: 400')
  tt.match(malformed.problem, { type: 'urn:rostersync:problem:malformed-request', status: 400 })
  const requestLine = problemOf(await rawExchange(origin, 'GET\x01 / HTTP/1.1\r\n\r\n'))
  tt.equal(requestLine.status, 400, 'a malformed request line: 400')
})
