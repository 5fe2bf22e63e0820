import { setTimeout as delay } from 'node:timers/promises'
import t from 'tap'
import { fixture, startFakeFlex } from './fake-flex.ts'

const fake = await startFakeFlex({ token: 'tok' })
t.teardown(() => fake.close())
t.beforeEach(() => fake.reset())

const auth = { 'x-auth-token': 'tok' }
const listUrl = (elementId: string) =>
  `${fake.url}/line-item/${elementId}/row-data/?codeList=contact&node=root`
const list = async (elementId: string) => (await fetch(listUrl(elementId), { headers: auth })).json()
const ADD_FORM =
  'resourceParentId=&managedResourceLineItemType=contact&quantity=1&parentLineItemId=&nextSiblingId='
const add = (
  elementId: string,
  resourceId: string,
  signal?: AbortSignal,
  body: string | undefined = ADD_FORM,
) =>
  fetch(`${fake.url}/line-item/${elementId}/add-resource/${resourceId}`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/x-www-form-urlencoded; charset=UTF-8' },
    body,
    signal,
  })

/** Polls until `condition` holds; fails after 5 s instead of hanging the file. */
async function until(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 5) {
    if (waited >= 5_000) throw new Error('condition not met within 5 s')
    await delay(5)
  }
}

t.test('every call needs the token', async (t) => {
  t.equal((await fetch(listUrl('el'))).status, 401)
  t.equal((await fetch(listUrl('el'), { headers: { 'x-auth-token': 'other' } })).status, 401)
  t.equal((await fetch(listUrl('el'), { headers: auth })).status, 200)
  t.same(
    fake.calls.map((call) => call.authToken),
    [undefined, 'other', 'tok'],
  )
})

t.test('unknown endpoints are 404; a list needs its query', async (t) => {
  t.equal((await fetch(`${fake.url}/line-item/el/other`, { headers: auth })).status, 404)
  t.equal((await fetch(`${fake.url}/line-item/el/row-data/`, { headers: auth })).status, 400)
  t.same(
    fake.calls.map((call) => call.endpoint),
    ['unknown', 'list'],
  )
})

t.test('add, set-role, list and remove work on the in-memory lines', async (t) => {
  const answer = (await (await add('el', 'tech-1')).json()) as { addedResourceLineIds: string[] }
  const id = answer.addedResourceLineIds[0]
  t.same(answer, {
    ...JSON.parse(fixture('add-answer.json')),
    addedResourceLineIds: [id],
    affectedRootLineIds: [id],
  })
  t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$/, 'a UUID, as in real Flex')
  fake.addRawRow('el', { id: 1, type: 'equipment' })
  const setRole = await fetch(`${fake.url}/line-item/el/row-data/`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ lineItemId: id, fieldType: 'business-role', payloadValue: 'r-1' }),
  })
  t.equal(setRole.status, 200)
  t.same(fake.lines('el'), [{ id, resourceId: 'tech-1', businessRoleId: 'r-1' }])
  t.same(await list('el'), [
    {
      id,
      managedResourceLineItemType: 'contact',
      resourceId: 'tech-1',
      businessRoleId: 'r-1',
      quantity: 1,
      leaf: true,
      container: false,
      rootLineId: id,
    },
    { id: 1, type: 'equipment' },
  ])
  const remove = () => fetch(`${fake.url}/line-item/${id}`, { method: 'DELETE', headers: auth })
  t.equal((await remove()).status, 204)
  t.equal((await remove()).status, 404)
  t.same(fake.lines('el'), [])
})

t.test('set-role refuses a wrong body or a line of another element', async (t) => {
  const id = fake.addLineByHand('el', 'tech-1')
  const setRole = (elementId: string, body: unknown) =>
    fetch(`${fake.url}/line-item/${elementId}/row-data/`, {
      method: 'POST',
      headers: auth,
      body: JSON.stringify(body),
    })
  t.equal((await setRole('el', { lineItemId: id, fieldType: 'role', payloadValue: 'r' })).status, 400)
  t.equal((await setRole('el', { lineItemId: id, payloadValue: 'r' })).status, 400)
  t.equal(
    (await setRole('other', { lineItemId: id, fieldType: 'business-role', payloadValue: 'r' })).status,
    404,
  )
  t.same(fake.lines('el'), [{ id, resourceId: 'tech-1', businessRoleId: null }])
})

t.test('hand edits', async (t) => {
  const first = fake.addLineByHand('el', 'tech-1', 'r-9')
  const second = fake.addLineByHand('el', 'tech-1')
  t.not(first, second, 'Flex allows the same technician twice')
  t.ok(fake.deleteLineByHand(first))
  t.notOk(fake.deleteLineByHand(first))
  t.same(fake.lines('el'), [{ id: second, resourceId: 'tech-1', businessRoleId: null }])
  t.same(fake.calls, [], 'hand edits are not calls')
})

t.test('faults apply to their endpoint, in the order queued, as many times as asked', async (t) => {
  fake.fail('list', { status: 500, times: 2 })
  fake.fail('list', { status: 429, retryAfter: '7', afterMs: 1 })
  fake.answer('list', { status: 200, body: 'not json' })
  const answers = []
  for (let i = 0; i < 5; i++) {
    const response = await fetch(listUrl('el'), { headers: auth })
    answers.push([response.status, response.headers.get('retry-after'), await response.text()])
  }
  t.same(answers, [
    [500, null, '{"message":"injected failure 500"}'],
    [500, null, '{"message":"injected failure 500"}'],
    [429, '7', '{"message":"injected failure 429"}'],
    [200, null, 'not json'],
    [200, null, '[]'],
  ])
  t.equal((await add('el', 'tech-1')).status, 200, 'other endpoints unaffected')
})

t.test('a failed add creates nothing', async (t) => {
  fake.fail('add', { status: 503 })
  t.equal((await add('el', 'tech-1')).status, 503)
  t.same(fake.lines('el'), [])
})

t.test('a hung call is never answered until the client gives up', async (t) => {
  fake.hang('add')
  const controller = new AbortController()
  const pending = add('el', 'tech-1', controller.signal)
  await until(() => fake.calls.length === 1)
  t.equal(fake.calls[0]?.endedAt, null, 'in flight')
  controller.abort()
  await t.rejects(pending)
  await until(() => fake.calls[0]?.endedAt !== null)
  t.equal(fake.calls[0]?.status, null, 'never answered')
  t.same(fake.lines('el'), [], 'nor performed')
})

t.test('a lost add answer: the line exists, the caller never learns its id', async (t) => {
  fake.loseAddResponse(1, 'drop')
  await t.rejects(add('el', 'tech-drop'), 'connection dropped')
  fake.loseAddResponse(1, 'error')
  const error = await add('el', 'tech-error')
  t.equal(error.status, 500)
  fake.loseAddResponse(1, 'hang')
  await t.rejects(add('el', 'tech-hang', AbortSignal.timeout(50)))
  t.same(
    fake.lines('el').map((line) => line.resourceId),
    ['tech-drop', 'tech-error', 'tech-hang'],
  )
  t.same(
    fake.calls.map((call) => call.status),
    [null, 500, null],
  )
})

t.test('maxInFlight counts requests being processed at once', async (t) => {
  fake.hang('list', 3)
  const controller = new AbortController()
  const requests = [1, 2, 3].map(() => fetch(listUrl('el'), { headers: auth, signal: controller.signal }))
  await until(() => fake.calls.length === 3)
  t.equal(fake.maxInFlight, 3)
  controller.abort()
  await Promise.allSettled(requests)
  await until(() => fake.calls.every((call) => call.endedAt !== null))
  await list('el')
  t.equal(fake.maxInFlight, 3, 'a high-water mark')
  fake.reset()
  t.equal(fake.maxInFlight, 0)
})

t.test('latency delays answers; every call is logged with its times', async (t) => {
  fake.latencyMs = 20
  await Promise.all([list('a'), list('b')])
  t.equal(fake.maxInFlight, 2)
  for (const call of fake.calls) {
    t.match(call, { method: 'GET', endpoint: 'list', status: 200 })
    t.ok(call.endedAt !== null && call.endedAt >= call.startedAt)
  }
})

t.test('reset forgets lines, faults, calls and shape changes, and never reuses ids', async (t) => {
  const before = fake.addLineByHand('el', 'tech-1')
  fake.fail('list', { status: 500 })
  fake.shape.rowType = 'type'
  fake.reset()
  t.same(fake.lines('el'), [])
  t.same(fake.calls, [])
  t.match(await list('el'), [])
  const after = fake.addLineByHand('el', 'tech-1')
  t.not(after, before)
  t.match(await list('el'), [{ id: after, managedResourceLineItemType: 'contact' }])
})

t.test('a bare add (no form) is refused with 400 unless the shape allows it', async (t) => {
  const bare = await add('el', 'tech-1', undefined, '')
  t.equal(bare.status, 400)
  t.match(await bare.json(), { exceptionMessage: /managedResourceLineItemType/ })
  t.same(fake.lines('el'), [])
  fake.shape.addBody = 'any'
  t.equal((await add('el', 'tech-1', undefined, '')).status, 200)
  t.equal(fake.lines('el').length, 1)
})

t.test('the variants a caller of real Flex must read', async (t) => {
  const line = fake.addLineByHand('el', 'res-1', 'role-1')
  Object.assign(fake.shape, {
    rowType: 'absent',
    rowResource: 'contact-column',
    rowRole: 'business-role-column',
  })
  t.same(await list('el'), [
    {
      id: line,
      contact: { id: 'res-1', name: 'Contact res-1' },
      'business-role': { fieldType: 'business-role', data: { id: 'role-1', name: 'Role role-1' } },
      quantity: 1,
      leaf: true,
      container: false,
      rootLineId: line,
    },
  ])
  Object.assign(fake.shape, {
    rowType: 'type',
    kindSpelling: 'Contact',
    rowResource: 'resource.id',
    nesting: 'container',
  })
  t.match(await list('el'), [
    {
      type: 'container',
      container: true,
      leaf: false,
      children: [{ id: line, type: 'Contact', resource: { id: 'res-1' }, rootLineId: 'container-el' }],
    },
  ])
})

t.test('login page, redirect and refusal answers', async (t) => {
  fake.answerLoginPage('list')
  const page = await fetch(listUrl('el'), { headers: auth })
  t.equal(page.status, 200)
  t.match(page.headers.get('content-type'), /text\/html/)
  t.match(await page.text(), /<form/)
  fake.redirectToLogin('list')
  const redirect = await fetch(listUrl('el'), { headers: auth, redirect: 'manual' })
  t.equal(redirect.status, 302)
  t.equal(redirect.headers.get('location'), '/f5/login')
  fake.refuse('add')
  const refused = await add('el', 'tech-1')
  t.equal(refused.status, 200)
  t.same(await refused.json(), { success: false, message: 'Line item could not be modified' })
  t.same(fake.lines('el'), [], 'a refused add adds nothing')
})
