import type pg from 'pg'

/** Reads what the migrations actually built, from pg_catalog (public schema only). */

export interface Column {
  name: string
  /** As format_type() prints it, e.g. `timestamp(3) with time zone`. */
  type: string
  nullable: boolean
  hasDefault: boolean
}

export interface Index {
  name: string
  /** Key columns in index order, `name DESC` when descending. */
  columns: string[]
  primary: boolean
  unique: boolean
  /** Has a WHERE clause. */
  partial: boolean
}

export async function tables(client: pg.Client): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
  )
  return rows.map((row) => row.name)
}

export async function columns(client: pg.Client, table: string): Promise<Column[]> {
  const { rows } = await client.query<Column>(
    `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
            NOT a.attnotnull AS nullable, a.atthasdef AS "hasDefault"
       FROM pg_attribute a
      WHERE a.attrelid = to_regclass(format('public.%I', $1::text)) AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [table],
  )
  return rows
}

export async function indexes(client: pg.Client, table: string): Promise<Index[]> {
  const { rows } = await client.query<Index>(
    `SELECT i.relname AS name, x.indisprimary AS primary, x.indisunique AS unique,
            x.indpred IS NOT NULL AS partial,
            array(SELECT a.attname || CASE WHEN x.indoption[k.position::int - 1] & 1 = 1 THEN ' DESC' ELSE '' END
                    FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, position)
                    JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
                   ORDER BY k.position) AS columns
       FROM pg_index x
       JOIN pg_class i ON i.oid = x.indexrelid
      WHERE x.indrelid = to_regclass(format('public.%I', $1::text))
      ORDER BY i.relname`,
    [table],
  )
  return rows
}

export interface ForeignKey {
  name: string
  columns: string[]
  referencedTable: string
  referencedColumns: string[]
  /** The referential actions as SQL spells them: CASCADE, RESTRICT, NO ACTION, SET NULL, SET DEFAULT. */
  onDelete: string
  onUpdate: string
}

export async function foreignKeys(client: pg.Client, table: string): Promise<ForeignKey[]> {
  const { rows } = await client.query<ForeignKey>(
    `WITH actions(code, action) AS (
       VALUES ('a', 'NO ACTION'), ('r', 'RESTRICT'), ('c', 'CASCADE'), ('n', 'SET NULL'), ('d', 'SET DEFAULT'))
     SELECT c.conname AS name,
            array(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, position)
                    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
                   ORDER BY k.position) AS columns,
            target.relname AS "referencedTable",
            array(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, position)
                    JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum
                   ORDER BY k.position) AS "referencedColumns",
            (SELECT action FROM actions WHERE code = c.confdeltype) AS "onDelete",
            (SELECT action FROM actions WHERE code = c.confupdtype) AS "onUpdate"
       FROM pg_constraint c
       JOIN pg_class target ON target.oid = c.confrelid
      WHERE c.contype = 'f' AND c.conrelid = to_regclass(format('public.%I', $1::text))
      ORDER BY c.conname`,
    [table],
  )
  return rows
}
