import t from 'tap'
import { classifyRows } from '../../src/flex/crew-lines.ts'
import { FlexClient } from '../../src/flex/flex-client.ts'
import { fixture, startFakeFlex } from '../helpers/fake-flex/fake-flex.ts'

/**
 * Every answer in test/fixtures/flex (shapes public callers of real Flex read or guard against; see
 * its README), served over HTTP and read the way a sync reads it.
 */

const fake = await startFakeFlex({ token: 'tok' })
t.teardown(() => fake.close())
t.beforeEach(() => fake.reset())

const client = new FlexClient({ baseUrl: fake.url, authToken: 'tok', timeoutMs: 2_000, maxAttempts: 1 })
const TECHNICIAN_A = '9d2c1b0a-8e7f-4a6b-9c5d-4e3f2a1b0c91'
const TECHNICIAN_B = '9d2c1b0a-8e7f-4a6b-9c5d-4e3f2a1b0c92'
const ROLE = '3e2d1c0b-9a8f-4e7d-8c6b-5a4f3e2d1c01'
const LINE_A = '0b7e4f1a-1c2d-4e3f-9a8b-7c6d5e4f3a21'
const LINE_B = '1c8f5a2b-2d3e-4f40-8b9c-8d7e6f5a4b32'

async function classified(file: string) {
  fake.answer('list', { status: 200, body: JSON.parse(fixture(file)) })
  return classifyRows(await client.listRows('el'), {
    isKnownResource: (id) => id === TECHNICIAN_A || id === TECHNICIAN_B,
    isKnownRole: (id) => id === ROLE,
  })
}

t.test('row-data-flat.json: two technicians with their roles; equipment skipped', async (t) => {
  t.same(await classified('row-data-flat.json'), {
    lines: [
      { lineItemId: LINE_A, resourceId: TECHNICIAN_A, position: '0', businessRoleId: ROLE },
      { lineItemId: LINE_B, resourceId: TECHNICIAN_B, position: '1', businessRoleId: null },
    ],
    skipped: [
      { position: '2', lineItemId: '2d9a6b3c-3e4f-4051-9cad-9e8f7a6b5c43', reason: 'kind equipment' },
    ],
    unclassifiable: [],
    rolesUnread: 0,
  })
})

t.test('row-data-kind-absent.json: rows without a kind are lines by their resource', async (t) => {
  const { lines, rolesUnread, unclassifiable } = await classified('row-data-kind-absent.json')
  t.same(
    lines.map((line) => [line.lineItemId, line.resourceId]),
    [
      [LINE_A, TECHNICIAN_A],
      [LINE_B, TECHNICIAN_B],
    ],
  )
  t.equal(rolesUnread, 2, 'no role field: the sync trusts the role it last set, and says so')
  t.same(unclassifiable, [])
})

t.test('row-data-kind-capitalised.json: "Contact" is a contact, "Equipment" is skipped', async (t) => {
  const { lines, skipped } = await classified('row-data-kind-capitalised.json')
  t.same(
    lines.map((line) => line.resourceId),
    [TECHNICIAN_A],
  )
  t.same(
    skipped.map((row) => row.reason),
    ['kind equipment'],
  )
})

t.test('row-data-code-keyed.json: resource and role read from the code-keyed columns', async (t) => {
  const { lines, rolesUnread } = await classified('row-data-code-keyed.json')
  t.same(
    lines.map((line) => [line.resourceId, line.businessRoleId]),
    [
      [TECHNICIAN_A, ROLE],
      [TECHNICIAN_B, null],
    ],
  )
  t.equal(rolesUnread, 0)
})

t.test('row-data-nested.json: the container is skipped, its children are lines', async (t) => {
  const { lines, skipped } = await classified('row-data-nested.json')
  t.same(
    lines.map((line) => [line.position, line.resourceId]),
    [
      ['0.children.0', TECHNICIAN_A],
      ['0.children.1', TECHNICIAN_B],
    ],
  )
  t.same(
    skipped.map((row) => row.reason),
    ['kind container'],
  )
})

t.test('row-data-unknown-row.json: a row that might be a crew line but cannot be read', async (t) => {
  const { lines, unclassifiable } = await classified('row-data-unknown-row.json')
  t.equal(lines.length, 1)
  t.same(unclassifiable, [
    {
      position: '1',
      fields: ['id', 'name', 'quantity', 'leaf', 'container'],
      reason: 'no kind field and no resource id',
    },
  ])
})

t.test('add-answer.json: the new line is addedResourceLineIds[0]', async (t) => {
  fake.answer('add', { status: 200, body: JSON.parse(fixture('add-answer.json')) })
  t.same(await client.addResource('el', TECHNICIAN_A), { lineItemId: '6f1c2a9e-3b4d-4e5f-8a7b-0c1d2e3f4a5b' })
})

t.test(
  'login-page.html, refused.json and error-exception.json fail the call, each as what it is',
  async (t) => {
    fake.answerLoginPage('list')
    t.match(await client.listRows('el').catch((e: unknown) => e), { kind: 'unauthorized', status: 200 })
    fake.refuse('remove')
    t.match(await client.removeLine(LINE_A).catch((e: unknown) => e), {
      kind: 'rejected',
      message: /Line item could not be modified/,
    })
    fake.answer('add', { status: 409, body: JSON.parse(fixture('error-exception.json')) })
    t.match(await client.addResource('el', TECHNICIAN_A).catch((e: unknown) => e), {
      kind: 'http',
      status: 409,
      message: /HTTP 409 Conflict: Resource is not available for the requested dates/,
    })
  },
)
