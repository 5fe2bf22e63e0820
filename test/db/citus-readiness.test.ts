import pg from 'pg'
import t, { type Test } from 'tap'
import {
  KEYS_WITHOUT_DISTRIBUTION_COLUMN,
  TABLE_PLACEMENTS,
  type TablePlacement,
} from '../../src/db/citus-layout.ts'
import { foreignKeys, indexes, tables } from '../helpers/catalog.ts'
import { createTestDatabase } from '../helpers/database.ts'

/**
 * Citus (docs/scaling.md) needs the distribution column in every primary and unique key of a
 * distributed table, and foreign keys that stay inside one colocation group (joining on the
 * distribution column) or point at a reference table. This reads the migrated catalog and lists every
 * key and foreign key that would block the move, against src/db/citus-layout.ts.
 */

interface Findings {
  /** Tables the layout does not place. */
  unplaced: string[]
  /** Primary or unique keys of a distributed table without its group's distribution column. */
  keysWithoutColumn: string[]
  /** Foreign keys Citus would refuse. */
  crossingForeignKeys: string[]
}

async function readiness(client: pg.Client): Promise<Findings> {
  const findings: Findings = { unplaced: [], keysWithoutColumn: [], crossingForeignKeys: [] }
  for (const table of await tables(client)) {
    const placement = TABLE_PLACEMENTS[table]
    if (!placement) {
      findings.unplaced.push(table)
      continue
    }
    if (placement.role === 'distributed') {
      for (const index of await indexes(client, table)) {
        if (!index.primary && !index.unique) continue
        if (!index.columns.map((column) => column.replace(/ DESC$/, '')).includes(placement.column))
          findings.keysWithoutColumn.push(`${table}.${index.name} (${index.columns.join(', ')})`)
      }
    }
    for (const key of await foreignKeys(client, table)) {
      const why = foreignKeyProblem(placement, TABLE_PLACEMENTS[key.referencedTable], key)
      if (why) findings.crossingForeignKeys.push(`${table}.${key.name}: ${why}`)
    }
  }
  return findings
}

function foreignKeyProblem(
  from: TablePlacement,
  to: TablePlacement | undefined,
  key: { columns: string[]; referencedTable: string; referencedColumns: string[] },
): string | undefined {
  if (!to) return `${key.referencedTable} is not placed`
  if (to.role === 'reference')
    return from.role === 'coordinator' ? 'a coordinator table referencing a reference table' : undefined
  if (from.role === 'coordinator' && to.role === 'coordinator') return undefined
  if (from.role !== 'distributed' || to.role !== 'distributed')
    return `${from.role} -> ${to.role} (only distributed -> reference or within one group)`
  if (from.group !== to.group) return `crosses from group ${from.group} to group ${to.group}`
  const position = key.referencedColumns.indexOf(to.column)
  if (position < 0 || key.columns[position] !== from.column)
    return `does not join ${from.column} to ${key.referencedTable}.${to.column}`
  return undefined
}

const expectedKeys = Object.keys(KEYS_WITHOUT_DISTRIBUTION_COLUMN)
const isKnown = (finding: string) => expectedKeys.some((name) => finding.includes(`.${name} (`))

async function connect(t: Test): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: await createTestDatabase(t) })
  await client.connect()
  t.teardown(() => client.end())
  return client
}

t.test(
  'the migrated schema is ready for Citus: keys hold their distribution column, FKs stay in their group',
  async (t) => {
    const findings = await readiness(await connect(t))
    t.same(findings.unplaced, [], 'every table is placed in src/db/citus-layout.ts')
    t.same(
      findings.keysWithoutColumn.filter((finding) => !isKnown(finding)),
      [],
      'no primary or unique key of a distributed table lacks its distribution column',
    )
    for (const name of expectedKeys)
      t.ok(
        findings.keysWithoutColumn.some((finding) => finding.includes(`.${name} (`)),
        `${name} is still without its distribution column (remove it from the exceptions when it is not)`,
      )
    t.same(findings.crossingForeignKeys, [], 'no foreign key crosses colocation groups')
  },
)

t.test('a planted key without the tenant column, and a foreign key across groups, are found', async (t) => {
  const client = await connect(t)
  await client.query('CREATE UNIQUE INDEX planted_calendar_id_key ON managed_calendars (calendar_id)')
  await client.query('ALTER TABLE calendar_versions ADD COLUMN crew_call_id uuid REFERENCES crew_calls (id)')
  await client.query('CREATE TABLE planted_unplaced (id int PRIMARY KEY)')
  const findings = await readiness(client)
  t.same(
    findings.keysWithoutColumn.filter((finding) => !isKnown(finding)),
    ['managed_calendars.planted_calendar_id_key (calendar_id)'],
  )
  t.match(findings.crossingForeignKeys, [
    /^calendar_versions\.calendar_versions_crew_call_id_fkey: crosses from group user to group crew_call$/,
  ])
  t.same(findings.unplaced, ['planted_unplaced'])
})
