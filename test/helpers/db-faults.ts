import { randomBytes } from 'node:crypto'
import { withClient } from './database.ts'

export interface RowFault {
  /** The table whose row writes it hits. */
  table: string
  /** Which row writes. */
  on: 'INSERT' | 'UPDATE' | 'INSERT OR UPDATE'
  /** An SQL condition on NEW (the trigger's WHEN clause): only the rows it holds for; all rows without it. */
  when?: string
}

/** Takes the fault away again. */
export type RemoveFault = () => Promise<void>

/**
 * Makes the database fail the row writes `fault` names, from now on and for every connection: a
 * BEFORE ... FOR EACH ROW trigger raises `injected failure on <table>: <the row as JSON>`, so the
 * statement, and its transaction, fail as a broken database would fail them.
 */
export function failOn(databaseUrl: string, fault: RowFault): Promise<RemoveFault> {
  return rowTrigger(
    databaseUrl,
    fault,
    `RAISE EXCEPTION 'injected failure on %: %', TG_TABLE_NAME, row_to_json(NEW); RETURN NEW;`,
  )
}

/** Makes each row write `fault` names take `seconds` longer (pg_sleep in a BEFORE ... FOR EACH ROW trigger). */
export function slowDown(databaseUrl: string, fault: RowFault & { seconds: number }): Promise<RemoveFault> {
  return rowTrigger(databaseUrl, fault, `PERFORM pg_sleep(${Number(fault.seconds)}); RETURN NEW;`)
}

async function rowTrigger(databaseUrl: string, fault: RowFault, body: string): Promise<RemoveFault> {
  const name = `injected_fault_${randomBytes(4).toString('hex')}`
  await withClient(databaseUrl, (c) =>
    c.query(`
      CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body} END $$;
      CREATE TRIGGER ${name} BEFORE ${fault.on} ON ${fault.table} FOR EACH ROW
        ${fault.when === undefined ? '' : `WHEN (${fault.when})`} EXECUTE FUNCTION ${name}();`),
  )
  return () =>
    withClient(databaseUrl, async (c) => {
      await c.query(`DROP TRIGGER IF EXISTS ${name} ON ${fault.table}`)
      await c.query(`DROP FUNCTION IF EXISTS ${name}()`)
    })
}
