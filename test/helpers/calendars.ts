import type { FastifyInstance } from 'fastify'
import { injectAs, type TestPrincipal } from './build-app.ts'

export interface CalendarPayload {
  calendarId: string
  summary: string
  [field: string]: unknown
}

export const calendarsUrl = (userId: string) => `/v1/users/${encodeURIComponent(userId)}/calendars`

export function putCalendars(
  app: FastifyInstance,
  userId: string,
  calendars: unknown,
  headers: Record<string, string> = {},
  as: TestPrincipal = 'service',
) {
  return injectAs(app, as, {
    method: 'PUT',
    url: calendarsUrl(userId),
    payload: { calendars },
    headers,
  })
}

export async function getCalendars(app: FastifyInstance, userId: string) {
  const response = await injectAs(app, 'service', { method: 'GET', url: calendarsUrl(userId) })
  return response.json<{ version: number; calendars: CalendarPayload[] }>()
}

/** `count` calendars with ids `${prefix}-0..`, all fields set. */
export function calendarSet(
  prefix: string,
  count: number,
  extra: Record<string, unknown> = {},
): CalendarPayload[] {
  return Array.from({ length: count }, (_, i) => ({
    calendarId: `${prefix}-${i}`,
    summary: `Calendar ${prefix} ${i}`,
    ...extra,
  }))
}

export const ids = (calendars: { calendarId: string }[]) => calendars.map((c) => c.calendarId).sort()
