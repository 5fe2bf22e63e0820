import { z } from 'zod'

/** One technician booked on one Flex element: a row of type "contact" in the element's row data. */
export interface CrewLine {
  lineItemId: string
  /** The technician's Flex resource (contact) id. */
  resourceId: string
  /**
   * The row's business role, read from `businessRoleId` or else `businessRole.id`. Absent when the
   * row has neither field (the tenant does not expose roles in row data); null when it has no role.
   */
  businessRoleId?: string | null
  /** The row as Flex sent it. */
  raw: unknown
}

/** Flex sends ids as numbers or strings; from here on they are opaque strings. */
const flexId = z.union([z.string().min(1), z.number().int()]).transform(String)

const contactRow = z
  .object({
    id: flexId,
    resourceId: flexId.nullish(),
    resource: z.object({ id: flexId.nullish(), resourceId: flexId.nullish() }).nullish(),
    businessRoleId: flexId.nullish(),
    businessRole: z.object({ id: flexId.nullish() }).nullish(),
  })
  .transform((row, ctx) => {
    const resourceId = row.resourceId ?? row.resource?.id ?? row.resource?.resourceId
    if (resourceId === undefined || resourceId === null) {
      ctx.issues.push({
        code: 'custom',
        input: row,
        path: ['resourceId'],
        message: 'a contact row needs resourceId, resource.id or resource.resourceId',
      })
      return z.NEVER
    }
    const hasRole = row.businessRoleId !== undefined || row.businessRole !== undefined
    return {
      lineItemId: row.id,
      resourceId,
      ...(hasRole && { businessRoleId: row.businessRoleId ?? row.businessRole?.id ?? null }),
    }
  })

/** Any row: its kind is `managedResourceLineItemType`, or `type` on older tenants. */
const row = z
  .looseObject({ managedResourceLineItemType: z.unknown().optional(), type: z.unknown().optional() })
  .transform((raw, ctx): CrewLine | null => {
    if ((raw.managedResourceLineItemType ?? raw.type) !== 'contact') return null
    const parsed = contactRow.safeParse(raw)
    if (parsed.success) return { ...parsed.data, raw }
    for (const { path, message } of parsed.error.issues)
      ctx.issues.push({ code: 'custom', path, message, input: raw })
    return z.NEVER
  })

const crewLinesResponse = z.array(row).transform((rows) => rows.filter((line) => line !== null))

const addResponse = z
  .object({
    id: flexId.nullish(),
    lineItemId: flexId.nullish(),
    data: z.object({ id: flexId.nullish(), lineItemId: flexId.nullish() }).nullish(),
    addedResourceLineIds: z.array(flexId).nullish(),
  })
  .transform(
    (body) =>
      body.id ??
      body.lineItemId ??
      body.data?.id ??
      body.data?.lineItemId ??
      body.addedResourceLineIds?.[0] ??
      null,
  )

export type ParseResult<T> = { ok: true; value: T } | { ok: false; problem: string; cause: z.ZodError }

/** The crew lines in a row-data list; rows of other kinds are skipped, never validated. */
export function parseCrewLines(body: unknown): ParseResult<CrewLine[]> {
  return toResult(crewLinesResponse.safeParse(body))
}

/** The new line's id from an add-resource answer: null when Flex sent none. */
export function parseAddedLineId(body: unknown): ParseResult<string | null> {
  return toResult(addResponse.safeParse(body))
}

function toResult<T>(result: z.ZodSafeParseResult<T>): ParseResult<T> {
  if (result.success) return { ok: true, value: result.data }
  const problem = result.error.issues
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : 'body'}: ${issue.message}`)
    .join('; ')
  return { ok: false, problem, cause: result.error }
}
