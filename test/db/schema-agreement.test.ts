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
  scalarFields,
  tableName,
} from '../helpers/prisma-schema.ts'

/**
 * prisma/schema.prisma (what the generated client believes) and prisma/migrations (what the database
 * is) are both written by hand. This proves they agree, table by table and column by column, and that
 * every model round-trips through the generated client on the migrated database.
 */

/** Indexes only the SQL migrations declare, each with the reason schema.prisma cannot. */
const SQL_ONLY_INDEXES: Record<string, string> = {
  managed_calendars_one_primary_per_user:
    'partial unique index (WHERE is_primary): Prisma cannot express partial indexes',
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
  CalendarChange: {
    userId: 'sample-user',
    version: 41,
    calendarId: 'sample@example.com',
    change: 'updated',
    before: { summary: 'Before' },
    after: { summary: 'After' },
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
    syncFailedAt: new Date('2022-03-04T05:08:00.000Z'),
    lastSyncedAt: new Date('2022-03-04T05:00:00.000Z'),
    syncPendingSince: new Date('2022-03-04T04:59:00.000Z'),
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
    before: { role: null },
    after: { role: 'LX-OP-E' },
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
    scope: 'service:sample PUT /v1/users/sample-user/calendars',
    key: 'sample-key',
    fingerprint: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
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

/** The SQL functions the services call, with the arguments and results they rely on (owned by migrations). */
const SQL_FUNCTIONS = {
  calendar_changes_since: {
    args: 'p_user_id text, p_since integer',
    result:
      'TABLE(current_version integer, floor_version integer, created jsonb, updated jsonb, deleted jsonb)',
  },
  calendar_history_floor: { args: 'p_user_id text', result: 'integer' },
  calendar_json: { args: 'mc managed_calendars', result: 'text' },
  calendar_set_at: {
    args: 'p_user_id text, p_version integer',
    result: 'TABLE(current_version integer, floor_version integer, calendars jsonb)',
  },
  prune_calendar_history: {
    args: 'p_keep_versions integer, p_keep_days integer, p_batch integer',
    result: 'integer',
  },
  replace_calendar_set: {
    args: 'p_user_id text, p_if_match integer[], p_calendars jsonb, p_actor text, p_request_id text, p_restored_from integer DEFAULT NULL::integer, p_key_scope text DEFAULT NULL::text, p_key text DEFAULT NULL::text, p_key_owner uuid DEFAULT NULL::uuid',
    result: 'TABLE(version integer, precondition_failed boolean, answer text)',
  },
  restore_calendar_set: {
    args: 'p_user_id text, p_version integer, p_if_match integer[], p_actor text, p_request_id text, p_key_scope text DEFAULT NULL::text, p_key text DEFAULT NULL::text, p_key_owner uuid DEFAULT NULL::uuid',
    result: 'TABLE(version_available boolean, version integer, precondition_failed boolean, answer text)',
  },
  mark_roster_changed: {
    args: 'p_crew_call_id uuid, p_debounce_ms integer, p_actor text, p_request_id text, p_changes jsonb, p_restored_from integer DEFAULT NULL::integer',
    result: 'integer',
  },
  prune_roster_history: {
    args: 'p_keep_versions integer, p_keep_days integer, p_batch integer',
    result: 'integer',
  },
  restore_roster: {
    args: 'p_job_id text, p_department text, p_version integer, p_if_match integer[], p_debounce_ms integer, p_actor text, p_request_id text',
    result:
      'TABLE(version_available boolean, crew_call_exists boolean, version integer, precondition_failed boolean, unknown_technicians integer[], created integer, updated integer, deleted integer, assignments jsonb)',
  },
  roster_at: {
    args: 'p_crew_call_id uuid, p_version integer',
    result: 'TABLE(current_version integer, floor_version integer, assignments jsonb)',
  },
  roster_changes_since: {
    args: 'p_crew_call_id uuid, p_since integer',
    result:
      'TABLE(current_version integer, floor_version integer, created jsonb, updated jsonb, deleted jsonb)',
  },
  roster_history_floor: { args: 'p_crew_call_id uuid', result: 'integer' },
  replace_roster: {
    args: 'p_job_id text, p_department text, p_if_match integer[], p_assignments jsonb, p_debounce_ms integer, p_actor text, p_request_id text, p_restored_from integer DEFAULT NULL::integer',
    result:
      'TABLE(crew_call_exists boolean, version integer, precondition_failed boolean, unknown_technicians integer[], created integer, updated integer, deleted integer, assignments jsonb)',
  },
  record_webhook_event: { args: 'p_key text, p_type text, p_resource text, p_data jsonb', result: 'void' },
  webhook_calendar_version_event: { args: '', result: 'trigger' },
  webhook_crew_call_failed_event: { args: '', result: 'trigger' },
  webhook_roster_version_event: { args: '', result: 'trigger' },
  webhook_sync_run_event: { args: '', result: 'trigger' },
  reserve_flex_calls: {
    args: 'p_calls integer, p_per_hour integer, p_per_day integer, p_reservation bigint DEFAULT NULL::bigint',
    result:
      'TABLE(reservation_id bigint, retry_at timestamp with time zone, used_last_hour integer, used_last_day integer)',
  },
} as const

t.test('every SQL function the services call exists as they call it, and no other', async (t) => {
  const { rows } = await client.query<{ name: string; args: string; result: string }>(
    `SELECT p.proname AS name, pg_get_function_arguments(p.oid) AS args, pg_get_function_result(p.oid) AS result
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public' ORDER BY p.proname`,
  )
  t.same(Object.fromEntries(rows.map(({ name, args, result }) => [name, { args, result }])), SQL_FUNCTIONS)
})

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
