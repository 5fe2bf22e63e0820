import { Webhook } from 'standardwebhooks'
import t from 'tap'
import type { SyncRunView } from '../../src/services/sync/sync-schemas.ts'
import type { ReceivedWebhook } from '../helpers/webhook-receiver.ts'
import { checkAnswers, checkFlex, checkHistory, checkSecondSyncs, checkWebhooks } from './checker.ts'
import type { FinalState, RosterRow } from './final-state.ts'
import type { Operation, Outcome } from './history.ts'
import { checkRegisters } from './registers.ts'
import { CREW_CALLS } from './scenario.ts'

// The checker is only worth something if it fails when a guarantee breaks: each case below is a
// history that a broken service would produce, and must be reported.

let nextId = 1
function write(value: string, start: number, end: number, outcome: Outcome = 'ok'): Operation {
  return {
    id: nextId++,
    client: 0,
    server: 0,
    kind: 'replace-calendars',
    method: 'PUT',
    path: '/v1/users/u/calendars',
    register: 'r',
    value,
    start,
    end,
    outcome,
    status: outcome === 'ok' ? 200 : undefined,
  }
}

const judge = (ops: Operation[], final: string | undefined) =>
  checkRegisters(ops, final === undefined ? new Map() : new Map([['r', final]]), () => 'initial')

t.test('register check', async (t) => {
  t.same(judge([write('a', 0, 1), write('b', 2, 3)], 'b'), [], 'the last acknowledged write is final')
  t.same(
    judge([write('a', 0, 5), write('b', 1, 4)], 'a'),
    [],
    'of two overlapping writes, either may be final',
  )
  t.same(judge([write('a', 0, 5), write('b', 1, 4)], 'b'), [])
  t.same(
    judge([write('a', 0, 1, 'unknown'), write('b', 2, 3)], 'a'),
    [],
    'an unknown write may land at any time',
  )
  t.same(judge([write('a', 0, 1, 'failed')], undefined), [], 'a failed write leaves the initial value')
  t.same(judge([], undefined), [], 'nothing written, nothing there')

  const lost = judge([write('a', 0, 1), write('b', 2, 3)], 'a')
  t.match(lost, [{ problem: /acknowledged operation \d+ .* was lost/ }], 'an acknowledged later write lost')
  t.match(judge([write('a', 0, 1)], undefined), [{ problem: /was lost/ }], 'an acknowledged write undone')
  t.match(
    judge([write('a', 0, 1), write('b', 0, 1)], 'mix of a and b'),
    [{ problem: /no request sent/ }],
    'a mix',
  )
  t.match(
    judge([write('a', 0, 1, 'failed')], 'a'),
    [{ problem: /which failed/ }],
    'a failed write took effect',
  )
  t.match(
    checkRegisters([], new Map([['phantom', 'x']]), () => 'initial'),
    [{ register: 'phantom' }],
    'a phantom',
  )
})

function read(observed: string, start: number, end: number): Operation {
  return { ...write('unused', start, end), kind: 'read-calendars', method: 'GET', value: undefined, observed }
}

t.test('register check of reads and of replace answers', async (t) => {
  const history = [write('a', 0, 1), write('b', 2, 3)]
  const reads = (...ops: Operation[]) => judge([...history, ...ops], 'b')
  t.same(
    reads(read('a', 1.5, 1.8), read('b', 2.5, 4), read('a', 2.5, 2.9)),
    [],
    'reads of a value that could be there',
  )
  t.same(reads(read('initial', -1, 0.5)), [], 'a read before any write sees the initial value')
  t.match(
    reads(read('a', 4, 5)),
    [{ by: Number, problem: /stale/ }],
    'a read after b was acknowledged sees a',
  )
  t.match(
    reads(read('initial', 1.5, 1.8)),
    [{ problem: /stale/ }],
    'a read after a was acknowledged sees nothing',
  )
  t.match(reads(read('a+b', 4, 5)), [{ problem: /no request sent/ }], 'a read sees a mix')
  t.match(judge([write('a', 0, 1), read('c', 1, 2), write('c', 3, 4)], 'c'), [{ problem: /not started yet/ }])
  const answered = { ...write('a', 0, 1), observed: 'a+b' }
  t.match(
    judge([answered], 'a'),
    [{ problem: /answered with another set/ }],
    "a replace's answer is not its set",
  )
})

t.test('answers: only 502/503 among 5xx, and every error is problem+json', async (t) => {
  const answered = (status: number, contentType: string) => ({
    ...write('a', 0, 1, status < 500 ? 'failed' : 'unknown'),
    status,
    contentType,
  })
  t.same(
    checkAnswers([
      answered(503, 'application/problem+json; charset=utf-8'),
      answered(409, 'application/problem+json'),
    ]),
    [],
  )
  t.equal(checkAnswers([answered(500, 'application/problem+json')]).length, 1, 'a 500')
  t.equal(checkAnswers([answered(503, 'text/plain')]).length, 1, 'a 503 that is not problem+json')
  t.equal(checkAnswers([answered(400, 'application/json')]).length, 1, 'a 400 that is not problem+json')
})

t.test('Flex: exactly one line per rostered technician, with its role, and no other', async (t) => {
  const crewCall = CREW_CALLS[0] as (typeof CREW_CALLS)[number]
  const ana: RosterRow = {
    technicianId: 'ana',
    flexResourceId: 'res-ana',
    role: 'SND-R',
    flexLineItemId: 'l1',
  }
  const state = (
    lines: { id: string; resourceId: string; businessRoleId: string | null }[],
    roster = [ana],
  ): FinalState => ({
    registers: new Map(),
    runningSyncs: 0,
    crewCalls: new Map([['c', { crewCall, roster, lines }]]),
    histories: new Map(),
    historyAt: new Map(),
  })
  const role = `br-${crewCall.department}-R`
  t.same(checkFlex(state([{ id: 'l1', resourceId: 'res-ana', businessRoleId: role }])), [])
  t.match(checkFlex(state([])), [/0 lines for ana/], 'a missing line')
  const twice = [
    { id: 'l1', resourceId: 'res-ana', businessRoleId: role },
    { id: 'l2', resourceId: 'res-ana', businessRoleId: role },
  ]
  t.match(checkFlex(state(twice)), [/2 lines for ana/], 'a duplicate line')
  t.match(checkFlex(state([{ id: 'l1', resourceId: 'res-ana', businessRoleId: role }], [])), [
    /off the roster/,
  ])
  t.match(checkFlex(state([{ id: 'l9', resourceId: 'res-ana', businessRoleId: role }])), [
    /records line l1, Flex has l9/,
  ])
  t.match(checkFlex(state([{ id: 'l1', resourceId: 'res-ana', businessRoleId: null }])), [/has role null/])
})

t.test('a second sync right after convergence must change nothing', async (t) => {
  const run = (changes: Partial<SyncRunView>) =>
    ({
      status: 'succeeded',
      added: [],
      removed: [],
      repaired: [],
      adopted: [],
      rolesSet: [],
      ...changes,
    }) as SyncRunView
  t.same(checkSecondSyncs(new Map([['c', run({ unchanged: ['ana'] })]])), [])
  t.match(checkSecondSyncs(new Map([['c', run({ added: ['ana'] })]])), [/changed {"added":\["ana"\]}/])
  t.match(checkSecondSyncs(new Map([['c', run({ status: 'partial' })]])), [/was partial/])
})

t.test('history: a gap, or an acknowledged replace missing from it, is a violation', async (t) => {
  const op = (id: number, version: number, value: string): Operation =>
    ({
      id,
      client: 0,
      server: 0,
      kind: 'replace-calendars',
      method: 'PUT',
      path: '/v1/users/u1/calendars',
      register: 'calendars:u1',
      value,
      version,
      start: 0,
      end: 1,
      outcome: 'ok',
      status: 200,
    }) as Operation
  const final = (versions: number[], setAt: [string, string | undefined][]) =>
    ({
      registers: new Map(),
      runningSyncs: 0,
      crewCalls: new Map(),
      histories: new Map([['calendars:u1', { current: 3, versions }]]),
      historyAt: new Map(setAt),
    }) as FinalState
  t.same(
    checkHistory([op(1, 3, 'a')], final([1, 2, 3], [['calendars:u1 3', 'a']])),
    [],
    'a whole history holding the write',
  )
  t.match(checkHistory([], final([1, 3], [])), [/have a gap/])
  t.match(checkHistory([op(1, 3, 'a')], final([1, 2, 3], [['calendars:u1 3', 'b']])), [/the history holds b/])
})

t.test(
  'webhooks: a missing event, a forged signature, a duplicate under another id, a phantom version',
  async (t) => {
    const secret = `whsec_${Buffer.alloc(32, 7).toString('base64')}`
    const data = (version: number) => ({
      userId: 'u1',
      version,
      created: 1,
      updated: 0,
      deleted: 0,
      restoredFrom: null,
    })
    const committed = new Map([
      ['calendars:u1 1', data(1)],
      ['calendars:u1 2', data(2)],
      ['roster:job-0/sound 1', undefined],
    ])
    const request = (
      id: string,
      body: object,
      answer: ReceivedWebhook['answer'] = 204,
      key = secret,
    ): ReceivedWebhook => {
      const text = JSON.stringify(body)
      const at = new Date()
      return {
        id,
        timestamp: String(Math.floor(at.getTime() / 1000)),
        signature: new Webhook(key).sign(id, at, text),
        body: text,
        traceparent: undefined,
        answer,
      }
    }
    const calendar = (version: number) => ({
      type: 'calendar-set.changed',
      timestamp: 'T',
      data: data(version),
    })
    const roster = {
      type: 'roster.changed',
      timestamp: 'T',
      data: { jobId: 'job-0', department: 'sound', version: 1 },
    }
    const sync = { type: 'crew-sync.finished', timestamp: 'T', data: { jobId: 'job-0' } }
    const all = [
      request('msg_1', calendar(1), 500),
      request('msg_1', calendar(1)),
      request('msg_2', calendar(2), 'dropped'),
      request('msg_2', calendar(2)),
      request('msg_2', calendar(2)),
      request('msg_3', roster),
      request('msg_4', sync),
    ]
    const check = (received: ReceivedWebhook[]) => checkWebhooks({ secret, received, committed })
    t.same(check(all), [], 'every committed version accepted, retries and duplicates under one id')

    t.match(
      check(all.filter((r) => r.id !== 'msg_2')),
      [/calendars:u1 2: committed, but its event never reached the receiver/],
      'a missing event',
    )
    t.match(
      check(all.map((r) => (r.id === 'msg_2' && r.answer === 204 ? { ...r, answer: 'slow' as const } : r))),
      [/calendars:u1 2: committed, but its event never reached/],
      'an event only ever sent to a receiver that did not accept it is missing',
    )
    const otherSecret = `whsec_${Buffer.alloc(32, 9).toString('base64')}`
    t.match(
      check([...all, request('msg_5', calendar(1), 204, otherSecret)]),
      [/webhook request 8 \(webhook-id msg_5\): its signature .* is not the endpoint secret's/],
      'a forged signature',
    )
    const tampered = {
      ...request('msg_1', calendar(1)),
      body: JSON.stringify({ ...calendar(1), type: 'roster.changed' }),
    }
    t.match(check([...all, tampered]), [/not the endpoint secret's/], 'a body changed after signing')
    t.match(
      check([...all, request('msg_9', calendar(2))]),
      [/calendars:u1 2: its event was sent under 2 webhook-ids \(msg_2, msg_9\)/],
      'a duplicate with a different webhook-id',
    )
    t.match(
      check([...all, request('msg_2', { ...calendar(2), timestamp: 'T2' })]),
      [/sent again with another body/],
      'one webhook-id with two bodies',
    )
    t.match(
      check([...all, request('msg_6', calendar(3))]),
      [/calendars:u1 3, a version that never committed/],
      'an event of a refused or rolled-back write',
    )
    t.match(
      check([...all, request('msg_7', { ...calendar(1), data: { ...data(1), created: 5 } })]),
      [/carries .* the committed version/, /sent under 2 webhook-ids/],
      "an event whose data is not the committed version's",
    )
    t.match(checkWebhooks({ secret, received: all, committed, pending: 2, failed: 1 }), [
      /2 webhook deliveries still pending/,
      /1 webhook deliveries failed for good/,
    ])
  },
)
