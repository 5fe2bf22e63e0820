import Fastify from 'fastify'
import t from 'tap'
import jsonBodyPlugin, { membersInText, membersInValue, takeJsonBody } from '../../src/plugins/json-body.ts'
import { build, injectAs } from '../helpers/build-app.ts'
import { calendarsUrl, getCalendars } from '../helpers/calendars.ts'
import { PROBLEM_CONTENT_TYPE } from '../helpers/problem.ts'

/**
 * The JSON body handed to PostgreSQL as text (takeJsonBody, src/plugins/json-body.ts): a calendar PUT's
 * body goes to replace_calendar_set as the text the client sent, so what PostgreSQL parses must be
 * exactly what the route validated: escapes read alike, duplicate names resolved alike (the last one),
 * and nothing the validation never saw (a value JSON.parse dropped for a later duplicate) can make
 * PostgreSQL refuse the statement (a 500).
 */

t.test('members are counted alike in the text and in its parsed value', async (t) => {
  const texts = [
    '{}',
    '[]',
    '"a:b"',
    '{"a":1}',
    '{"a:b":"c:d","e":{"f":[1,{"g":null}]}}',
    '{"a\\":b":"\\\\","c":"\\"}:{"}',
    ' { "a" : [ { "b" : true } , { } ] } ',
  ]
  for (const text of texts)
    t.equal(membersInText(text), membersInValue(JSON.parse(text)), `${text}: as many members as keys`)
  const duplicated = '{"a":{"b":2},"a":1}'
  t.equal(membersInText(duplicated), 3, 'every member of the text counts')
  t.equal(membersInValue(JSON.parse(duplicated)), 1, 'the parsed value keeps the last duplicate only')
})

t.test('takeJsonBody: the text as sent without duplicates, the validated body again with them', async (t) => {
  const app = Fastify()
  t.teardown(() => app.close())
  await app.register(jsonBodyPlugin)
  app.post('/kept', { config: { keepsJsonBody: true } }, async (request) => {
    const text = takeJsonBody(request).toString()
    return { text, bodyAfter: request.body === undefined ? 'released' : 'held' }
  })
  app.post('/not-kept', async (request) => ({ text: takeJsonBody(request).toString() }))
  const post = (url: string, payload: string) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload })

  const sent = ' { "calendars" : [ { "summary" : "caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/" } ] } '
  t.same((await post('/kept', sent)).json(), { text: sent, bodyAfter: 'released' }, 'the very text sent')
  t.same(
    (await post('/not-kept', sent)).json(),
    { text: JSON.stringify(JSON.parse(sent)) },
    'a route without keepsJsonBody gets the body serialized again',
  )
  const duplicated = '{"calendars":[{"summary":"\\u0000","summary":"kept"}],"calendars":[]}'
  t.same(
    (await post('/kept', duplicated)).json(),
    { text: '{"calendars":[]}', bodyAfter: 'released' },
    'with duplicate names, the parsed body (the last of each) serialized again',
  )
})

t.test('a calendar PUT stores what JSON.parse read from the text sent', async (t) => {
  const { app } = await build(t)
  const put = (userId: string, payload: string) =>
    injectAs(app, 'service', {
      method: 'PUT',
      url: calendarsUrl(userId),
      headers: { 'content-type': 'application/json' },
      payload,
    })

  t.test('escapes are read alike', async (t) => {
    const sent =
      '{"calendars":[{"calendarId":"a\\u002fb\\u00e9\\ud83d\\ude00","summary":"caf\\u00e9 \\ud83d\\ude00 \\"q\\" \\\\ \\/ tab\\there\\nline",' +
      '"description":null,"timeZone":"Europe\\/Madrid","primary":true,"selected":false}]}'
    const answer = await put('escapes', sent)
    t.equal(answer.statusCode, 200, answer.body)
    const [stored] = (await getCalendars(app, 'escapes')).calendars
    const [expected] = (JSON.parse(sent) as { calendars: Record<string, unknown>[] }).calendars
    t.match(stored, expected, 'every field as JSON.parse reads it')
  })

  t.test('duplicate names: the last one, as JSON.parse and jsonb both keep', async (t) => {
    const answer = await put(
      'dup',
      '{"calendars":[{"calendarId":"x","summary":"first"}],' +
        '"calendars":[{"calendarId":"a","summary":"first","summary":"last","calendarId":"b"}]}',
    )
    t.equal(answer.statusCode, 200, answer.body)
    t.match((await getCalendars(app, 'dup')).calendars, [{ calendarId: 'b', summary: 'last' }])
    t.equal((await getCalendars(app, 'dup')).calendars.length, 1)
  })

  t.test('a dropped duplicate PostgreSQL would refuse is not a 500', async (t) => {
    const dropped = {
      'an escaped NUL': '"\\u0000"',
      'a lone high surrogate': '"\\ud800"',
      'a lone low surrogate': '"x\\udc00"',
      'a number beyond numeric': '1e999999',
      'nesting past the stack': `${'['.repeat(100_000)}${']'.repeat(100_000)}`,
    }
    for (const [what, value] of Object.entries(dropped)) {
      const answer = await put(
        'dropped',
        `{"calendars":[{"calendarId":"c","summary":${value},"summary":"${what}"}]}`,
      )
      t.equal(answer.statusCode, 200, `${what}: ${answer.body.slice(0, 200)}`)
      t.match((await getCalendars(app, 'dropped')).calendars, [{ calendarId: 'c', summary: what }])
    }
  })

  t.test('a \\u0000 escape or a lone surrogate in a kept value is a 400 naming it', async (t) => {
    for (const value of ['"a\\u0000b"', '"\\ud800"', '"\\udfff\\ud800"']) {
      const answer = await put('kept-bad', `{"calendars":[{"calendarId":"c","summary":${value}}]}`)
      t.equal(answer.statusCode, 400, answer.body)
      t.match(answer.headers['content-type'], PROBLEM_CONTENT_TYPE)
      t.match(answer.json(), { errors: [{ in: 'body', pointer: '/calendars/0/summary' }] })
    }
    t.equal((await getCalendars(app, 'kept-bad')).version, 0, 'nothing written')
  })
})
