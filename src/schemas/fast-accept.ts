import type { z } from 'zod'

/**
 * A cheap check that accepts the common, valid case of a request schema without running zod, whose
 * parse of a 20-calendar body allocates about 55 KB (a result object per field, an issue array per
 * check) and was a third of what the calendar PUT allocated (docs/performance.md). The check answers
 * true only for data the schema accepts unchanged (no defaults, no transforms, no coercion), so its
 * output may be the data itself; anything else, valid or not, goes to zod, which alone writes the
 * problems. A fast check must never accept what zod refuses: test/schemas/fast-accept.test.ts checks
 * each one against its schema on generated bodies. The validator compiler that runs them:
 * src/plugins/validator-compiler.ts.
 */
export type FastAccept = (data: unknown) => boolean

const fastAccepts = new WeakMap<z.ZodType, FastAccept>()

/** Registers `accept` as the fast check of `schema`; returns the schema. */
export function withFastAccept<S extends z.ZodType>(schema: S, accept: FastAccept): S {
  fastAccepts.set(schema, accept)
  return schema
}

/** The fast check registered for `schema`, if any. */
export function fastAcceptOf(schema: unknown): FastAccept | undefined {
  return typeof schema === 'object' && schema !== null ? fastAccepts.get(schema as z.ZodType) : undefined
}

/** A plain object (what JSON.parse makes), not null, not an array. */
export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
