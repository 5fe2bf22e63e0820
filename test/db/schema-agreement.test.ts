import { uncapitalize } from '@prisma/get-dmmf'
import pg from 'pg'
import t from 'tap'
import { loadConfig } from '../../src/config.ts'
import { createPool } from '../../src/db/pool.ts'
import { createPrismaClient, type Prisma } from '../../src/db/prisma.ts'
import { columns, foreignKeys, type Index, indexes, tables } from '../helpers/catalog.ts'
import { createTestDatabase } from '../helpers/database.ts'
import {
  columnName,
  type ExpectedIndex,
  expectedColumnType,
  expectedForeignKeys,
  expectedIndexes,
  expectsColumnDefault,
  type Model,
  readDatamodel,
  readUnsupportedFields,
  scalarFields,
  tableName,
} from '../helpers/prisma-schema.ts'
import { assertFunctionFilesAgree } from '../helpers/sql-functions.ts'

/**
 * prisma/schema.prisma (what the generated client believes) and prisma/migrations (what the database
 * is) are both written by hand. This proves they agree, table by table and column by column, and that
 * every model round-trips through the generated client on the migrated database; and that
 * prisma/functions/ (each SQL function's one current definition) is what the migrations define.
 */

/** Indexes only the SQL migrations declare, each with the reason schema.prisma cannot. */
const SQL_ONLY_INDEXES: Record<string, string> = {
  managed_calendars_one_primary_per_user:
    'partial unique index (WHERE is_primary): Prisma cannot express partial indexes',
  webhook_deliveries_pending_endpoint_id_event_seq_idx:
    "the webhook claim's walk in event order (WHERE status = 'pending'): Prisma cannot express partial indexes",
  webhook_deliveries_pending_endpoint_id_resource_event_seq_idx:
    "the webhook claim's check for an earlier event of the same resource still waiting (WHERE status = 'pending'): Prisma cannot express partial indexes",
  webhook_deliveries_pending_endpoint_id_lease_until_idx:
    "the webhook claim's count of deliveries in flight (WHERE status = 'pending'): Prisma cannot express partial indexes",
}

/** Views, which schema.prisma does not model, each with what it is for. */
const SQL_ONLY_VIEWS: Record<string, string> = {
  claimable_webhook_deliveries:
    'which webhook deliveries a worker may claim: the one home of the condition claim_webhook_deliveries reads twice',
}

/** Tables that are no model. */
const NON_MODEL_TABLES = ['_prisma_migrations']

/** How schema.prisma spells each kind of index. */
const ATTRIBUTES: Record<ExpectedIndex['kind'], string> = {
  id: '@@id',
  unique: '@@unique',
  normal: '@@index',
  fulltext: '@@fulltext',
}

type CreateData<M extends Prisma.ModelName> =
  Prisma.TypeMap['model'][M]['operations']['create']['args']['data']

/** One row per model with every scalar field set to a value other than its default. */
const SAMPLES: { [M in Prisma.ModelName]: CreateData<M> } = {
  CalendarSet: { userId: 'sample-user', version: 41, updatedAt: new Date('2021-06-07T08:09:10.123Z') },
  CalendarVersion: {
    userId: 'sample-user',
    version: 41,
    changedAt: new Date('2021-06-07T08:09:10.123Z'),
    actor: 'service:sample',
    requestId: 'sample-request',
    created: 1,
    updated: 2,
    deleted: 3,
    restoredFrom: 39,
  },
  ManagedCalendar: {
    id: '5b0c6f7e-2d7a-4c1e-9a43-3f1f0c9d2b11',
    userId: 'sample-user',
    calendarId: 'sample@example.com',
    summary: 'Sample',
    description: 'A calendar with every field set',
    timeZone: 'Europe/Madrid',
    backgroundColor: '#9fe1e7',
    foregroundColor: '#000000',
    accessRole: 'writer',
    isPrimary: true,
    isSelected: true,
    createdAt: new Date('2020-01-02T03:04:05.678Z'),
    updatedAt: new Date('2021-06-07T08:09:10.123Z'),
  },
  Technician: {
    id: 'sample-tech',
    name: 'Sam Ple',
    flexResourceId: 'sample-resource',
    createdAt: new Date('2020-01-02T03:04:05.678Z'),
    updatedAt: new Date('2021-06-07T08:09:10.123Z'),
  },
  CrewCall: {
    id: '0d5f3a52-8f1e-4b7e-a0c6-2f3b9e1d7c44',
    jobId: 'sample-job',
    department: 'lights',
    flexElementId: 'sample-element',
    version: 7,
    syncLeaseOwner: 'sample-owner',
    syncLeaseUntil: new Date('2022-03-04T05:06:07.890Z'),
    syncDueAt: new Date('2022-03-04T05:07:00.000Z'),
    syncedVersion: 6,
    syncAttempts: 2,
    syncLostRuns: 1,
    syncFailedAt: new Date('2022-03-04T05:08:00.000Z'),
    lastSyncedAt: new Date('2022-03-04T05:00:00.000Z'),
    syncPendingSince: new Date('2022-03-04T04:59:00.000Z'),
    syncChangeTraceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
    createdAt: new Date('2020-01-02T03:04:05.678Z'),
    updatedAt: new Date('2021-06-07T08:09:10.123Z'),
  },
  CrewAssignment: {
    id: '9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d',
    crewCallId: '0d5f3a52-8f1e-4b7e-a0c6-2f3b9e1d7c44',
    technicianId: 'sample-tech',
    role: 'LX-OP-E',
    flexLineItemId: 'sample-line',
    flexBusinessRoleId: 'sample-business-role',
    syncedAt: new Date('2022-03-04T05:06:07.890Z'),
    createdAt: new Date('2020-01-02T03:04:05.678Z'),
    updatedAt: new Date('2021-06-07T08:09:10.123Z'),
  },
  RosterVersion: {
    crewCallId: '0d5f3a52-8f1e-4b7e-a0c6-2f3b9e1d7c44',
    version: 7,
    changedAt: new Date('2022-03-04T05:06:07.890Z'),
    actor: 'user:sample',
    requestId: 'sample-request',
    created: 1,
    updated: 0,
    deleted: 2,
    restoredFrom: 5,
  },
  RosterChange: {
    crewCallId: '0d5f3a52-8f1e-4b7e-a0c6-2f3b9e1d7c44',
    version: 7,
    technicianId: 'sample-tech',
    change: 'created',
    beforeRole: 'LX-OP-E',
  },
  FlexAddDoubt: {
    crewCallId: '0d5f3a52-8f1e-4b7e-a0c6-2f3b9e1d7c44',
    flexResourceId: 'sample-resource',
    until: new Date('2022-03-04T05:07:07.890Z'),
  },
  SyncRun: {
    id: 'c4d5e6f7-a8b9-4c0d-9e1f-2a3b4c5d6e7f',
    crewCallId: '0d5f3a52-8f1e-4b7e-a0c6-2f3b9e1d7c44',
    trigger: 'resync',
    status: 'partial',
    startedAt: new Date('2022-03-04T05:06:07.890Z'),
    finishedAt: new Date('2022-03-04T05:06:08.123Z'),
    durationMs: 233,
    added: ['sample-tech'],
    removed: ['line-1'],
    repaired: ['tech-r'],
    adopted: ['tech-a'],
    rolesSet: ['tech-s'],
    unchanged: ['tech-u'],
    ignored: ['line-2'],
    errors: [{ operation: 'add', message: 'sample' }],
    retryAt: new Date('2022-03-04T06:00:00.000Z'),
    flexCalls: 7,
    notes: ['sample note'],
  },
  FlexCallReservation: { id: 4_242n, calls: 12, reservedAt: new Date('2022-03-04T05:06:07.890Z') },
  IdempotencyKey: {
    tenant: 'sample-user',
    scope: 'service:sample PUT /v1/users/sample-user/calendars',
    key: 'sample-key',
    fingerprint: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    ifMatch: '"2"',
    state: 'completed',
    owner: '3e7a1c52-6b0d-4f8e-9a21-7c5d4b3a2f10',
    lockedUntil: new Date('2022-03-04T05:06:07.890Z'),
    responseStatus: 201,
    responseHeaders: { 'content-type': 'application/json; charset=utf-8', etag: '"3"' },
    responseBody: new Uint8Array(Buffer.from('{"sample":true}')),
    createdAt: new Date('2020-01-02T03:04:05.678Z'),
    expiresAt: new Date('2020-01-03T03:04:05.678Z'),
  },
  WebhookEndpoint: {
    id: '6b1f0a3c-2d4e-4f5a-8b9c-0d1e2f3a4b5c',
    url: 'https://hooks.example.com/rostersync',
    events: ['roster.changed'],
    enabled: false,
    disabledReason: 'the receiver answered 410 Gone',
    description: 'sample receiver',
    secret: 'whsec_c2FtcGxlLXNlY3JldC1vZi0zMi1ieXRlcy0xMjM0NTY3OA==',
    previousSecret: 'whsec_cHJldmlvdXMtc2VjcmV0LW9mLTMyLWJ5dGVzLTEyMzQ1Ng==',
    previousSecretUntil: new Date('2022-03-05T05:06:07.890Z'),
    createdAt: new Date('2020-01-02T03:04:05.678Z'),
    updatedAt: new Date('2020-01-03T03:04:05.678Z'),
  },
  WebhookEvent: {
    id: '7c2a1b4d-3e5f-4a6b-9c0d-1e2f3a4b5c6d',
    seq: 4_243n,
    key: 'roster:sample:3',
    type: 'roster.changed',
    resource: 'roster:sample',
    data: { jobId: 'sample-job', department: 'sound', version: 3 },
    occurredAt: new Date('2022-03-04T05:06:07.890Z'),
  },
  WebhookDelivery: {
    id: '8d3b2c5e-4f6a-4b7c-8d1e-2f3a4b5c6d7e',
    endpointId: '6b1f0a3c-2d4e-4f5a-8b9c-0d1e2f3a4b5c',
    eventId: '7c2a1b4d-3e5f-4a6b-9c0d-1e2f3a4b5c6d',
    eventSeq: 4_243n,
    resource: 'roster:sample',
    type: 'roster.changed',
    status: 'failed',
    attempts: 10,
    nextAttemptAt: new Date('2022-03-04T05:06:07.890Z'),
    leaseOwner: '9e4c3d6f-5a7b-4c8d-9e2f-3a4b5c6d7e8f',
    leaseUntil: new Date('2022-03-04T05:06:22.890Z'),
    lastStatus: 503,
    lastError: 'the receiver answered 503',
    deliveredAt: new Date('2022-03-04T05:06:08.890Z'),
    createdAt: new Date('2022-03-04T05:06:07.890Z'),
  },
}

const datamodel = await readDatamodel()
const unsupported = await readUnsupportedFields()
const databaseUrl = await createTestDatabase(t)
const client = new pg.Client({ connectionString: databaseUrl })
await client.connect()
t.teardown(() => client.end())

t.test('the migrations create a table for every model, and no other', async (t) => {
  const modelTables = datamodel.models.map(tableName)
  t.same(await tables(client), [...modelTables, ...NON_MODEL_TABLES].sort(), 'the tables in public')
})

for (const model of datamodel.models) {
  const table = tableName(model)

  t.test(`${model.name}: the columns of ${table} match its fields`, async (t) => {
    const actual = new Map((await columns(client, table)).map((column) => [column.name, column]))
    for (const field of scalarFields(model)) {
      const name = columnName(field)
      const column = actual.get(name)
      actual.delete(name)
      if (!t.ok(column, `${table}.${name} exists`)) continue
      t.same(
        column,
        {
          name,
          type: expectedColumnType(field),
          nullable: !field.isRequired,
          hasDefault: expectsColumnDefault(field),
        },
        `${table}.${name} has the type, nullability and default of ${model.name}.${field.name}`,
      )
    }
    for (const { column: name, model: _model, ...declared } of unsupported.filter(
      (f) => f.model === model.name,
    )) {
      const column = actual.get(name)
      actual.delete(name)
      t.same(
        column,
        { name, ...declared },
        `${table}.${name} has the Unsupported type, nullability and default declared`,
      )
    }
    t.same([...actual.keys()], [], `${table} has no column ${model.name} lacks`)
  })

  t.test(`${model.name}: the indexes of ${table} match the schema`, async (t) => {
    const actual = await indexes(client, table)
    const declared = new Set<string>()
    for (const expected of expectedIndexes(datamodel, model)) {
      const names = actual.filter((index) => isDeclaredAs(index, expected)).map((index) => index.name)
      const label = `${ATTRIBUTES[expected.kind]}(${expected.columns.join(', ')})`
      if (expected.name) t.same(names, [expected.name], `${label} is the index ${expected.name}`)
      else t.equal(names.length, 1, `${label} has an index on exactly those columns`)
      for (const name of names) declared.add(name)
    }
    for (const index of actual) {
      t.ok(
        declared.has(index.name) || index.name in SQL_ONLY_INDEXES,
        `index ${index.name} is declared in schema.prisma or listed in SQL_ONLY_INDEXES`,
      )
    }
  })

  t.test(`${model.name}: the foreign keys of ${table} match its relations`, async (t) => {
    const actual = (await foreignKeys(client, table)).map(({ name, ...key }) => key)
    t.same(
      sortByColumns(actual),
      sortByColumns(expectedForeignKeys(datamodel, model)),
      'the same foreign keys, with the same referential actions',
    )
  })
}

t.test('every index in SQL_ONLY_INDEXES exists', async (t) => {
  const perTable = await Promise.all(datamodel.models.map((model) => indexes(client, tableName(model))))
  const names = perTable.flat().map((index) => index.name)
  for (const name of Object.keys(SQL_ONLY_INDEXES)) {
    t.ok(names.includes(name), `${name} exists (remove it from the list if it was dropped)`)
  }
})

t.test('the views are exactly those of SQL_ONLY_VIEWS', async (t) => {
  const { rows } = await client.query<{ name: string }>(
    `SELECT viewname AS name FROM pg_views WHERE schemaname = 'public' ORDER BY viewname`,
  )
  t.same(
    rows.map((row) => row.name),
    Object.keys(SQL_ONLY_VIEWS).sort(),
    'a new view is listed with its purpose; a dropped one leaves the list',
  )
})

t.test(
  'prisma/functions/ holds every SQL function exactly as the migrations define it, and no other',
  async (t) => {
    const scratch = new pg.Client({ connectionString: await createTestDatabase(t) })
    await scratch.connect()
    t.teardown(() => scratch.end())
    await assertFunctionFilesAgree(t, client, scratch)
  },
)

t.test('every model round-trips through the generated client', async (t) => {
  const pool = createPool(databaseUrl, loadConfig({}), console)
  const prisma = createPrismaClient(pool)
  t.teardown(async () => {
    await prisma.$disconnect()
    await pool.end()
  })
  const delegates = prisma as unknown as Record<string, ModelDelegate>
  const samples: Partial<Record<string, Record<string, unknown>>> = SAMPLES

  for (const model of parentsFirst(datamodel.models)) {
    t.test(model.name, async (t) => {
      const sample = samples[model.name]
      if (!sample) return t.fail(`no sample row for ${model.name}: add one to SAMPLES in this file`)
      for (const field of scalarFields(model)) {
        const value = sample[field.name]
        t.ok(
          value !== undefined && value !== null && value !== field.default,
          `the sample sets ${field.name} to a value other than its default`,
        )
      }
      const delegate = delegates[uncapitalize(model.name)]
      if (!delegate) return t.fail(`the generated client has no ${model.name} delegate: run db:generate`)
      await delegate.create({ data: sample })
      const row = await delegate.findUniqueOrThrow({ where: idWhere(model, sample) })
      for (const field of scalarFields(model)) {
        t.same(row[field.name], sample[field.name], `${field.name} reads back as written`)
      }
    })
  }
})

interface ModelDelegate {
  create(args: { data: Record<string, unknown> }): Promise<unknown>
  findUniqueOrThrow(args: { where: Record<string, unknown> }): Promise<Record<string, unknown>>
}

/** Whether a database index is what the schema declares: same kind, same key columns, no WHERE. */
function isDeclaredAs(index: Index, expected: ExpectedIndex): boolean {
  const kind = index.primary ? 'id' : index.unique ? 'unique' : 'normal'
  return kind === expected.kind && !index.partial && index.columns.join('\0') === expected.columns.join('\0')
}

function sortByColumns<T extends { columns: string[] }>(keys: T[]): T[] {
  return keys.sort((a, b) => a.columns.join().localeCompare(b.columns.join()))
}

/** Models ordered so that each comes after the models its foreign keys reference. */
function parentsFirst(models: readonly Model[]): Model[] {
  const ordered: Model[] = []
  const visit = (model: Model, path: Model[]) => {
    if (ordered.includes(model) || path.includes(model)) return
    for (const field of model.fields) {
      const parent = field.relationFromFields?.length && models.find((m) => m.name === field.type)
      if (parent) visit(parent, [...path, model])
    }
    ordered.push(model)
  }
  for (const model of models) visit(model, [])
  return ordered
}

/** findUnique's `where` for a row: its @id field, or the compound @@id input. */
function idWhere(model: Model, row: Record<string, unknown>): Record<string, unknown> {
  const fields = model.primaryKey?.fields ?? model.fields.filter((f) => f.isId).map((f) => f.name)
  const [only, ...rest] = fields
  if (only !== undefined && rest.length === 0) return { [only]: row[only] }
  const key = model.primaryKey?.name ?? fields.join('_')
  return { [key]: Object.fromEntries(fields.map((name) => [name, row[name]])) }
}
