import fc from 'fast-check'
import t from 'tap'
import { z } from 'zod'
import { fastAcceptValidatorCompiler } from '../../src/plugins/validator-compiler.ts'
import { MAX_ID_LENGTH } from '../../src/schemas/common.ts'
import { fastAcceptOf, withFastAccept } from '../../src/schemas/fast-accept.ts'
import {
  MAX_CALENDARS_PER_SET,
  MAX_DESCRIPTION_LENGTH,
  replaceCalendarsBodySchema,
} from '../../src/services/calendars/calendar-schemas.ts'

// The fast check of the calendar PUT's body (src/schemas/fast-accept.ts) must accept only what zod
// accepts unchanged: a body it accepts skips zod. Checked here on generated bodies near the schema's
// edges (valid calendars, sometimes with one field gone wrong, ids from a small pool so duplicates are
// frequent), with both answers compared on every one.

const accept = fastAcceptOf(replaceCalendarsBodySchema)
if (!accept) throw new Error('replaceCalendarsBodySchema has no fast check')

const text = (length: number, unit = 'a') => unit.repeat(length)
/** Strings at and around every bound and character rule of the calendar fields. */
const strings = [
  '',
  'a',
  'Calendar 1',
  'tab\there',
  'line\nfeed',
  'carriage\rreturn',
  'nul\u0000',
  'del\u007f',
  'c1\u009f',
  'lone \ud800 surrogate',
  'trailing \udc00',
  'pair 😀',
  ' ',
  'Europe/Madrid',
  'UTC',
  'US/Eastern',
  'Mars/Olympus_Mons',
  'europe/madrid',
  '#9fe1e7',
  '#9FE1E7',
  '#9fe1e',
  '#9fe1e7 ',
  '#gggggg',
  '9fe1e7x',
  'owner',
  'writer',
  'reader',
  'freeBusyReader',
  'Owner',
  text(7),
  text(64),
  text(65),
  text(1024),
  text(1025),
  text(MAX_DESCRIPTION_LENGTH),
  text(MAX_DESCRIPTION_LENGTH + 1),
  `${text(MAX_ID_LENGTH - 1)}\u0001`,
  text(512, '😀'),
  text(513, '😀'),
]
const others: unknown[] = [null, true, false, 0, 1, -1, 1.5, [], {}, ['a'], { a: 1 }]
const anyValue = fc.oneof(fc.constantFrom<unknown>(...strings), fc.constantFrom(...others), fc.string())
const ABSENT = Symbol('absent')
const optional = <T>(valid: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: fc.constant(ABSENT) })
const FIELDS = [
  'calendarId',
  'summary',
  'description',
  'timeZone',
  'backgroundColor',
  'foregroundColor',
  'accessRole',
  'primary',
  'selected',
  'extra',
]

/** A valid calendar, its id from a small pool (duplicates are frequent), sometimes with one field gone wrong. */
const calendar = fc
  .tuple(
    fc.record({
      calendarId: fc.constantFrom(
        'a',
        'b',
        'c',
        'd@group.calendar.google.com',
        text(MAX_ID_LENGTH),
        'pair 😀',
      ),
      summary: fc.constantFrom('Calendar 1', 'tab\there', 'line\nfeed', text(1024)),
      description: optional(fc.constantFrom(null, 'text', 'carriage\rreturn', text(MAX_DESCRIPTION_LENGTH))),
      timeZone: optional(fc.constantFrom(null, 'Europe/Madrid', 'UTC', 'US/Eastern', text(64))),
      backgroundColor: optional(fc.constantFrom(null, '#9fe1e7', '#9FE1E7')),
      foregroundColor: optional(fc.constantFrom(null, '#000000')),
      accessRole: optional(fc.constantFrom(null, 'owner', 'writer', 'reader', 'freeBusyReader')),
      primary: optional(
        fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 4, arbitrary: fc.constant(false) }),
      ),
      selected: optional(fc.boolean()),
    }),
    fc.oneof(
      { weight: 3, arbitrary: fc.constant(undefined) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom(...FIELDS), fc.oneof(anyValue, fc.constant(ABSENT))) },
    ),
  )
  .map(([valid, fault]) => {
    const fields: Record<string, unknown> = { ...valid }
    if (fault) fields[fault[0]] = fault[1]
    return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== ABSENT))
  })

const body = fc.oneof(
  { weight: 10, arbitrary: fc.array(calendar, { maxLength: 6 }).map((calendars) => ({ calendars })) },
  { weight: 1, arbitrary: fc.array(calendar, { maxLength: 3 }).map((calendars) => ({ calendars, more: 1 })) },
  { weight: 1, arbitrary: anyValue },
  { weight: 1, arbitrary: anyValue.map((calendars) => ({ calendars })) },
)

t.test('the calendar body fast check accepts only what zod accepts unchanged', async (t) => {
  let accepted = 0
  let refused = 0
  let leftToZod = 0
  fc.assert(
    fc.property(body, (candidate) => {
      const parsed = replaceCalendarsBodySchema.safeParse(candidate)
      if (!accept(candidate)) {
        if (parsed.success) leftToZod++
        else refused++
        return true
      }
      accepted++
      // What zod would hand the route is the body itself (no default, transform or coercion).
      return parsed.success && JSON.stringify(sorted(parsed.data)) === JSON.stringify(sorted(candidate))
    }),
    { numRuns: 20_000, seed: 20261206 },
  )
  t.ok(accepted > 2_000, `the generator reaches the fast path (${accepted} accepted)`)
  t.ok(refused > 2_000, `and zod's refusals (${refused} refused by both)`)
  // Valid, but left to zod: strings over a bound in UTF-16 units that zod measures in code points.
  t.ok(leftToZod < accepted / 10, `few valid bodies miss the fast path (${leftToZod})`)
})

t.test('a set at the size bound passes the fast check; one over it goes to zod', async (t) => {
  const calendars = Array.from({ length: MAX_CALENDARS_PER_SET }, (_, i) => ({
    calendarId: `c${i}`,
    summary: 's',
  }))
  t.equal(accept({ calendars }), true)
  t.equal(replaceCalendarsBodySchema.safeParse({ calendars }).success, true)
  const over = { calendars: [...calendars, { calendarId: 'more', summary: 's' }] }
  t.equal(accept(over), false)
  t.equal(replaceCalendarsBodySchema.safeParse(over).success, false)
})

t.test('the validator compiler passes accepted data as it is and sends the rest through zod', async (t) => {
  const schema = withFastAccept(z.object({ n: z.number() }), (data) => (data as { n?: unknown }).n === 1)
  const validate = fastAcceptValidatorCompiler({ schema, method: 'PUT', url: '/x', httpPart: 'body' })
  const one = { n: 1 }
  t.equal((validate(one) as { value: unknown }).value, one, 'accepted: the very object, no copy')
  t.same((validate({ n: 2 }) as { value: unknown }).value, { n: 2 }, 'valid but not fast: zod’s value')
  t.ok((validate({ n: 'x' }) as { error?: unknown }).error, 'invalid: zod’s error')
  const plain = fastAcceptValidatorCompiler({
    schema: z.string(),
    method: 'PUT',
    url: '/x',
    httpPart: 'body',
  })
  t.ok((plain(1) as { error?: unknown }).error, 'a schema without a fast check: zod alone')
})

/** The value with every object's keys in sorted order (zod's output follows the schema's key order). */
function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted)
  if (typeof value !== 'object' || value === null) return value
  return Object.fromEntries(
    Object.keys(value)
      .sort()
      .map((key) => [key, sorted((value as Record<string, unknown>)[key])]),
  )
}
