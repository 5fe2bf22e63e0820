import type { FastifyInstance } from 'fastify'
import type { Test } from 'tap'
import { type BuildOptions, build, injectAs, type TestApp } from './build-app.ts'
import { type FakeFlex, startFakeFlex } from './fake-flex/fake-flex.ts'

export const JOB = 'job-1'
export const ELEMENT = 'element-1'
export const crewCallUrl = (department = 'sound', jobId = JOB) => `/v1/jobs/${jobId}/crew-calls/${department}`
export const technicianId = (i: number) => `tech-${i}`
export const resourceId = (i: number) => `res-${i}`

export async function putTechnicians(app: FastifyInstance, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const response = await injectAs(app, 'service', {
      method: 'PUT',
      url: `/v1/technicians/${technicianId(i)}`,
      payload: { name: `Technician ${i}`, flexResourceId: resourceId(i) },
    })
    if (response.statusCode >= 300) throw new Error(`technician ${i}: ${response.body}`)
  }
}

export async function putCrewCall(
  app: FastifyInstance,
  department = 'sound',
  flexElementId = ELEMENT,
  jobId = JOB,
) {
  const response = await injectAs(app, 'service', {
    method: 'PUT',
    url: crewCallUrl(department, jobId),
    payload: { flexElementId },
  })
  if (response.statusCode >= 300) throw new Error(`crew call: ${response.body}`)
  return response.json<{ id: string }>()
}

export function replaceRoster(
  app: FastifyInstance,
  assignments: { technicianId: string; role?: string | null }[],
  department = 'sound',
  headers: Record<string, string> = {},
) {
  return injectAs(app, 'service', {
    method: 'PUT',
    url: `${crewCallUrl(department)}/assignments`,
    payload: { assignments },
    headers,
  })
}

/**
 * The sync worker on, with timings short enough for a debounce, a backoff and a retry to happen within a
 * test: it polls every 20 ms, a change is due 50 ms after it, retries wait 50-200 ms, no periodic resync.
 */
export const FAST_SYNC_WORKER = {
  SYNC_WORKER: 'on',
  SYNC_POLL_MS: '20',
  SYNC_DEBOUNCE_MS: '50',
  SYNC_RETRY_BASE_MS: '50',
  SYNC_RETRY_MAX_MS: '200',
  SYNC_RESYNC_INTERVAL_MS: '0',
}

export const roster = (count: number, role?: string) =>
  Array.from({ length: count }, (_, i) => ({ technicianId: technicianId(i), ...(role && { role }) }))

export async function sync(app: FastifyInstance, department = 'sound', query = '') {
  const response = await injectAs(app, 'service', {
    method: 'POST',
    url: `${crewCallUrl(department)}/sync${query}`,
  })
  return { status: response.statusCode, body: response.json() }
}

export interface CrewWorld extends TestApp {
  flex: FakeFlex
}

/** An app wired to a fake Flex, with `technicians` technicians and a sound crew call on ELEMENT. */
export async function crewWorld(
  t: Test,
  technicians: number,
  options: BuildOptions = {},
): Promise<CrewWorld> {
  const flex = await startFakeFlex()
  t.teardown(() => flex.close())
  const world = await build(t, {
    ...options,
    env: { FLEX_BASE_URL: flex.url, FLEX_AUTH_TOKEN: flex.token, ...options.env },
  })
  if (!options.databaseUrl) {
    await putTechnicians(world.app, technicians)
    await putCrewCall(world.app)
  }
  return { ...world, flex }
}

/** resource id -> number of crew lines Flex holds for it on the element. */
export function linesPerResource(flex: FakeFlex, element = ELEMENT): Map<string, number> {
  const counts = new Map<string, number>()
  for (const line of flex.lines(element)) counts.set(line.resourceId, (counts.get(line.resourceId) ?? 0) + 1)
  return counts
}

export const flexWrites = (flex: FakeFlex) => flex.calls.filter((call) => call.method !== 'GET')
