import t from 'tap'
import type { CrewLine } from '../../../src/flex/crew-lines.ts'
import { planReconcile, type RosterEntry } from '../../../src/services/sync/reconcile-plan.ts'

const entry = (n: number, fields: Partial<RosterEntry> = {}): RosterEntry => ({
  technicianId: `t${n}`,
  flexResourceId: `r${n}`,
  role: null,
  flexLineItemId: null,
  flexBusinessRoleId: null,
  ...fields,
})
const line = (id: string, resourceId: string, businessRoleId?: string | null): CrewLine => ({
  lineItemId: id,
  resourceId,
  ...(businessRoleId !== undefined && { businessRoleId }),
  position: '0',
})
const plan = (
  roster: RosterEntry[],
  lines: CrewLine[],
  known: [string, string][] = [],
  roles: Record<string, string> = {},
) =>
  planReconcile({
    roster,
    lines,
    technicianByResource: new Map(known),
    businessRoleFor: (role) => (role ? roles[role.slice(-1)] : undefined),
  })

t.test('a converged crew call plans nothing but unchanged', async (t) => {
  const result = plan([entry(1, { flexLineItemId: 'L1' })], [line('L1', 'r1')], [['r1', 't1']])
  t.same(result, {
    forgetLine: [],
    adopt: [],
    add: [],
    setRole: [],
    remove: [],
    unchanged: ['t1'],
    ignored: [],
  })
})

t.test('missing lines are added; a vanished recorded line is cleared and repaired', async (t) => {
  const result = plan([entry(1), entry(2, { flexLineItemId: 'gone' })], [])
  t.same(result.add, [
    { technicianId: 't1', flexResourceId: 'r1', repair: false },
    { technicianId: 't2', flexResourceId: 'r2', repair: true },
  ])
  t.same(result.forgetLine, ['t2'])
})

t.test(
  'an unrecorded line is adopted; extra lines of one technician are removed, keeping the recorded one',
  async (t) => {
    const adopted = plan([entry(1)], [line('11', 'r1'), line('9', 'r1')])
    t.same(
      adopted.adopt,
      [{ technicianId: 't1', lineItemId: '9', businessRoleId: null }],
      'the oldest line is kept',
    )
    t.same(adopted.remove, [{ lineItemId: '11', technicianId: 't1', reason: 'duplicate' }])
    const recorded = plan([entry(1, { flexLineItemId: '11' })], [line('9', 'r1'), line('11', 'r1')])
    t.same(recorded.adopt, [])
    t.same(recorded.remove, [{ lineItemId: '9', technicianId: 't1', reason: 'duplicate' }])
    t.same(recorded.unchanged, ['t1'])
  },
)

t.test(
  'a recorded line that now belongs to another resource is cleared before anyone adopts it',
  async (t) => {
    const result = plan([entry(1, { flexLineItemId: 'L' }), entry(2)], [line('L', 'r2')])
    t.same(result.forgetLine, ['t1'])
    t.same(result.adopt, [{ technicianId: 't2', lineItemId: 'L', businessRoleId: null }])
    t.same(result.add, [{ technicianId: 't1', flexResourceId: 'r1', repair: true }])
  },
)

t.test('known technicians off the roster lose their lines; strangers are ignored', async (t) => {
  const result = plan([], [line('A', 'r1'), line('B', 'stranger')], [['r1', 't1']])
  t.same(result.remove, [{ lineItemId: 'A', technicianId: 't1', reason: 'not-on-roster' }])
  t.same(result.ignored, ['B'])
})

t.test('business roles: set when they differ from Flex, or from what was last set', async (t) => {
  const roles = { R: 'role-r', E: 'role-e' }
  const fromFlex = plan(
    [entry(1, { role: 'X-R', flexLineItemId: 'L1' })],
    [line('L1', 'r1', 'role-e')],
    [],
    roles,
  )
  t.same(fromFlex.setRole, [{ technicianId: 't1', lineItemId: 'L1', businessRoleId: 'role-r' }])
  const fromRecord = plan(
    [entry(1, { role: 'X-R', flexLineItemId: 'L1', flexBusinessRoleId: 'role-r' })],
    [line('L1', 'r1')],
    [],
    roles,
  )
  t.same(fromRecord.setRole, [], 'the row says it was set and Flex does not expose roles')
  t.same(fromRecord.unchanged, ['t1'])
  const unconfigured = plan(
    [entry(1, { role: 'X-T', flexLineItemId: 'L1' })],
    [line('L1', 'r1', null)],
    [],
    roles,
  )
  t.same(unconfigured.setRole, [], 'no role configured for the tier: nothing to set')
  const added = plan([entry(1, { role: 'X-E' })], [], [], roles)
  t.same(added.add, [{ technicianId: 't1', flexResourceId: 'r1', repair: false, businessRoleId: 'role-e' }])
})
