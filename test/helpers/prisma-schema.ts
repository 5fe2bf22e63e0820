import { readFile } from 'node:fs/promises'
import { getDMMF } from '@prisma/get-dmmf'

type DmmfResult = ReturnType<typeof getDMMF>
export type Datamodel = Extract<DmmfResult, { datamodel: unknown }>['datamodel']
export type Model = Datamodel['models'][number]
export type Field = Model['fields'][number]

const SCHEMA = new URL('../../prisma/schema.prisma', import.meta.url)

/** prisma/schema.prisma as Prisma's own parser reads it. */
export async function readDatamodel(): Promise<Datamodel> {
  const result = getDMMF({ datamodel: await readFile(SCHEMA, 'utf8') })
  if ('error' in result) throw result.error
  return result.datamodel
}

/**
 * A field whose column type Prisma cannot express, declared `Unsupported("<type>")`: the DMMF leaves such
 * fields out, so they are read from the schema's text (one per line, as schema.prisma writes them).
 */
export interface UnsupportedField {
  model: string
  column: string
  type: string
  nullable: boolean
  hasDefault: boolean
}

export async function readUnsupportedFields(): Promise<UnsupportedField[]> {
  const fields: UnsupportedField[] = []
  let model = ''
  for (const line of (await readFile(SCHEMA, 'utf8')).split('\n')) {
    model = /^model (\w+) \{/.exec(line)?.[1] ?? (line.startsWith('}') ? '' : model)
    const field = /^\s+(\w+)\s+Unsupported\("([^"]+)"\)(\?)?(.*)$/.exec(line)
    if (!model || !field) continue
    const [, name = '', type = '', optional, attributes = ''] = field
    fields.push({
      model,
      column: /@map\("([^"]+)"\)/.exec(attributes)?.[1] ?? name,
      type,
      nullable: optional === '?',
      hasDefault: attributes.includes('@default('),
    })
  }
  return fields
}

export const tableName = (model: Model) => model.dbName ?? model.name
export const columnName = (field: Field) => field.dbName ?? field.name
export const scalarFields = (model: Model) => model.fields.filter((field) => field.kind === 'scalar')

/** The native type Prisma gives a field without @db.*, on PostgreSQL. */
const DEFAULT_NATIVE_TYPES: Record<string, [string, string[]]> = {
  String: ['Text', []],
  Int: ['Integer', []],
  BigInt: ['BigInt', []],
  Boolean: ['Boolean', []],
  DateTime: ['Timestamp', ['3']],
  Json: ['JsonB', []],
  Bytes: ['ByteA', []],
}

const timestamp =
  (zone: string) =>
  ([precision]: string[]) =>
    precision === undefined ? `timestamp ${zone}` : `timestamp(${precision}) ${zone}`

/** PostgreSQL's format_type() of each native type's column. */
const COLUMN_TYPES: Record<string, (args: string[]) => string> = {
  Text: () => 'text',
  Uuid: () => 'uuid',
  Integer: () => 'integer',
  BigInt: () => 'bigint',
  Boolean: () => 'boolean',
  Timestamp: timestamp('without time zone'),
  Timestamptz: timestamp('with time zone'),
  JsonB: () => 'jsonb',
  ByteA: () => 'bytea',
}

/** The column type (as format_type() prints it) that Prisma expects for a scalar field. */
export function expectedColumnType(field: Field): string {
  const native = field.nativeType ?? DEFAULT_NATIVE_TYPES[field.type]
  const format = native && COLUMN_TYPES[native[0]]
  if (!native || !format) {
    const declared = `${field.type}${field.nativeType ? ` @db.${field.nativeType[0]}` : ''}`
    throw new Error(
      `no column type known for ${field.name} (${declared}): ` +
        'add it to DEFAULT_NATIVE_TYPES or COLUMN_TYPES in test/helpers/prisma-schema.ts',
    )
  }
  const column = format([...native[1]])
  return field.isList ? `${column}[]` : column
}

/** Defaults Prisma computes in the client: their columns have no DEFAULT. */
const CLIENT_SIDE_DEFAULTS = new Set(['uuid', 'cuid', 'nanoid', 'ulid'])

/** Whether Prisma expects the column to have a DEFAULT (an @default that the database evaluates). */
export function expectsColumnDefault(field: Field): boolean {
  const computedBy = typeof field.default === 'object' && 'name' in field.default ? field.default.name : ''
  return field.hasDefaultValue && !CLIENT_SIDE_DEFAULTS.has(computedBy)
}

const fieldNamed = (model: Model, name: string): Field => {
  const field = model.fields.find((f) => f.name === name)
  if (!field) throw new Error(`${model.name} has no field ${name}`)
  return field
}

export interface ExpectedIndex {
  kind: Datamodel['indexes'][number]['type']
  /** The name `map:` gives it; Prisma's default name is not checked. */
  name?: string
  /** Key columns in index order, `name DESC` when descending. */
  columns: string[]
}

/** A model's @id/@@id, @unique/@@unique and @@index, on column names. */
export function expectedIndexes(datamodel: Datamodel, model: Model): ExpectedIndex[] {
  return datamodel.indexes
    .filter((index) => index.model === model.name)
    .map((index) => ({
      kind: index.type,
      name: index.dbName,
      columns: index.fields.map(
        ({ name, sortOrder }) =>
          `${columnName(fieldNamed(model, name))}${sortOrder === 'desc' ? ' DESC' : ''}`,
      ),
    }))
}

/** Prisma's referential action as SQL spells it: SetNull -> SET NULL. */
const sqlAction = (action: string) => action.replace(/(?<=[a-z])(?=[A-Z])/g, ' ').toUpperCase()

export interface ExpectedForeignKey {
  columns: string[]
  referencedTable: string
  referencedColumns: string[]
  onDelete: string
  onUpdate: string
}

/**
 * The foreign key of every relation whose fields the model holds, with Prisma's default referential
 * actions where the schema names none: onDelete Restrict (SetNull when a field is optional), onUpdate
 * Cascade.
 */
export function expectedForeignKeys(datamodel: Datamodel, model: Model): ExpectedForeignKey[] {
  return model.fields
    .filter((relation) => relation.relationFromFields?.length)
    .map((relation) => {
      const target = datamodel.models.find((m) => m.name === relation.type)
      if (!target) throw new Error(`${model.name}.${relation.name} relates to unknown model ${relation.type}`)
      const from = (relation.relationFromFields ?? []).map((name) => fieldNamed(model, name))
      const onDelete = relation.relationOnDelete ?? (from.every((f) => f.isRequired) ? 'Restrict' : 'SetNull')
      return {
        columns: from.map(columnName),
        referencedTable: tableName(target),
        referencedColumns: (relation.relationToFields ?? []).map((name) =>
          columnName(fieldNamed(target, name)),
        ),
        onDelete: sqlAction(onDelete),
        onUpdate: sqlAction(relation.relationOnUpdate ?? 'Cascade'),
      }
    })
}
