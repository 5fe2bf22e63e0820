import t from 'tap'
import { build, injectAs } from '../../helpers/build-app.ts'
import { calendarSet, calendarsUrl, getCalendars } from '../../helpers/calendars.ts'
import { PROBLEM_CONTENT_TYPE } from '../../helpers/problem.ts'

/** G5: bad input changes nothing and gets a 400 problem+json naming each field at fault. */

const { app } = await build(t)
const USER = 'validated'
await injectAs(app, 'service', {
  method: 'PUT',
  url: calendarsUrl(USER),
  payload: { calendars: calendarSet('keep', 2) },
})
const original = await getCalendars(app, USER)

const ok = { calendarId: 'ok', summary: 'OK' }
const long = 'x'.repeat(1025)

interface Case {
  name: string
  body?: unknown
  raw?: string
  headers?: Record<string, string>
  url?: string
  /** Each expected `in` + pointer, in any order. */
  fields: string[]
}

const cases: Case[] = [
  {
    name: 'missing calendarId',
    body: { calendars: [{ summary: 'x' }] },
    fields: ['body /calendars/0/calendarId'],
  },
  {
    name: 'empty calendarId',
    body: { calendars: [ok, { calendarId: '', summary: 'x' }] },
    fields: ['body /calendars/1/calendarId'],
  },
  {
    name: 'missing summary',
    body: { calendars: [{ calendarId: 'a' }] },
    fields: ['body /calendars/0/summary'],
  },
  {
    name: 'empty summary',
    body: { calendars: [{ calendarId: 'a', summary: '' }] },
    fields: ['body /calendars/0/summary'],
  },
  {
    name: 'calendarId over 1024 characters',
    body: { calendars: [{ calendarId: long, summary: 'x' }] },
    fields: ['body /calendars/0/calendarId'],
  },
  {
    name: 'userId over 1024 characters',
    url: calendarsUrl(long),
    body: { calendars: [ok] },
    fields: ['path /userId'],
  },
  {
    name: 'the same calendarId twice',
    body: { calendars: [ok, { calendarId: 'b', summary: 'b' }, { calendarId: 'ok', summary: 'again' }] },
    fields: ['body /calendars/2/calendarId'],
  },
  {
    name: 'two primaries',
    body: {
      calendars: [
        { ...ok, primary: true },
        { calendarId: 'b', summary: 'b', primary: true },
      ],
    },
    fields: ['body /calendars/1/primary'],
  },
  {
    name: 'a field fault, a repeated calendarId and a second primary, all in one answer',
    body: {
      calendars: [
        { calendarId: 'a', summary: 'a', primary: true },
        { calendarId: 'a', summary: '', primary: true },
        { calendarId: 'c', summary: 'c', timeZone: 'Mars/Olympus' },
      ],
    },
    fields: [
      'body /calendars/1/summary',
      'body /calendars/1/calendarId',
      'body /calendars/1/primary',
      'body /calendars/2/timeZone',
    ],
  },
  { name: 'unknown top-level key', body: { calendars: [ok], extra: 1 }, fields: ['body /extra'] },
  {
    name: 'unknown calendar key',
    body: { calendars: [{ ...ok, colorId: '3' }] },
    fields: ['body /calendars/0/colorId'],
  },
  { name: 'calendars missing', body: {}, fields: ['body /calendars'] },
  { name: 'calendars not an array', body: { calendars: { a: 1 } }, fields: ['body /calendars'] },
  { name: 'calendar not an object', body: { calendars: ['a'] }, fields: ['body /calendars/0'] },
  {
    name: 'wrong types',
    body: { calendars: [{ calendarId: 7, summary: true, primary: 'yes' }] },
    fields: ['body /calendars/0/calendarId', 'body /calendars/0/summary', 'body /calendars/0/primary'],
  },
  {
    name: 'bad accessRole',
    body: { calendars: [{ ...ok, accessRole: 'admin' }] },
    fields: ['body /calendars/0/accessRole'],
  },
  {
    name: 'bad color',
    body: { calendars: [{ ...ok, backgroundColor: 'red' }] },
    fields: ['body /calendars/0/backgroundColor'],
  },
  {
    name: 'bad time zone',
    body: { calendars: [{ ...ok, timeZone: 'Mars/Olympus' }] },
    fields: ['body /calendars/0/timeZone'],
  },
  {
    name: 'more than 10,000 calendars',
    body: { calendars: calendarSet('many', 10_001) },
    fields: ['body /calendars'],
  },
  { name: 'a JSON array body', body: [ok], fields: ['body '] },
  {
    name: 'malformed If-Match',
    body: { calendars: [ok] },
    headers: { 'if-match': '3' },
    fields: ['header /if-match'],
  },
  {
    name: 'weak If-Match',
    body: { calendars: [ok] },
    headers: { 'if-match': 'W/"1"' },
    fields: ['header /if-match'],
  },
]

for (const c of cases) {
  t.test(c.name, async (t) => {
    const response = await injectAs(app, 'service', {
      method: 'PUT',
      url: c.url ?? calendarsUrl(USER),
      headers: { 'content-type': 'application/json', ...c.headers },
      payload: c.raw ?? JSON.stringify(c.body),
    })
    t.equal(response.statusCode, 400)
    t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
    const problem = response.json()
    t.match(problem, { type: 'urn:rostersync:problem:validation', status: 400, requestId: String })
    const named = problem.errors.map((e: { in: string; pointer: string }) => `${e.in} ${e.pointer}`)
    for (const field of c.fields) t.ok(named.includes(field), `names ${field} (got ${named.join(', ')})`)
  })
}

t.test('malformed JSON is a 400 problem', async (t) => {
  const response = await injectAs(app, 'service', {
    method: 'PUT',
    url: calendarsUrl(USER),
    headers: { 'content-type': 'application/json' },
    payload: '{"calendars": [',
  })
  t.equal(response.statusCode, 400)
  t.match(response.json(), { type: 'urn:rostersync:problem:malformed-request' })
})

t.test('an empty body is a 400 problem', async (t) => {
  const response = await injectAs(app, 'service', {
    method: 'PUT',
    url: calendarsUrl(USER),
    headers: { 'content-type': 'application/json' },
  })
  t.equal(response.statusCode, 400)
  t.match(response.headers['content-type'], PROBLEM_CONTENT_TYPE)
})

t.test('nothing was written by any refused request', async (t) => {
  t.same(await getCalendars(app, USER), original)
})
