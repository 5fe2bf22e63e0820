import { buildApp } from '../src/app.ts'
import { startFakeFlex } from '../test/helpers/fake-flex.ts'
import { createBenchDatabase } from './database.ts'
import { withCleanup } from './lib.ts'
import { BENCH_SERVICE_KEY, benchConfig } from './service.ts'

export const SYNC_WALL_TIME_GOAL_MS = 2_000
const TECHNICIANS = 200
const FLEX_LATENCY_MS = 100

export interface CrewSyncBenchFigures {
  technicians: number
  flexLatencyMs: number
  /** Client-side wall time of the one POST .../sync that adds every technician to an empty crew call. */
  wallTimeMs: number
  /** The most Flex calls the fake Flex saw in flight at once. */
  maxFlexInFlight: number
  /** Calls the fake Flex received during the sync. */
  flexCalls: number
  /** Calls the run recorded (flexCalls in the run), which the shared budget was settled with. */
  runFlexCalls: number
  /** The Flex call budget after the sync: used in the last hour, and left (FLEX_CALLS_PER_HOUR). */
  budgetUsedLastHour: number
  budgetLeftThisHour: number
  goalMet: boolean
}

/**
 * Syncs 200 rostered technicians into an empty crew call against the fake Flex answering every call
 * after 100 ms, with the service's default configuration, over real HTTP.
 */
export function runCrewSyncBench(): Promise<CrewSyncBenchFigures> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    const flex = await startFakeFlex({ latencyMs: FLEX_LATENCY_MS })
    cleanup.add(() => flex.close())
    const config = benchConfig({
      DATABASE_URL: databaseUrl,
      FLEX_BASE_URL: flex.url,
      FLEX_AUTH_TOKEN: flex.token,
      FLEX_BUSINESS_ROLES: JSON.stringify({ sound: { R: 'role-r', E: 'role-e', T: 'role-t' } }),
      // The sync measured is the one this bench asks for, not a worker's.
      SYNC_WORKER: 'off',
      METRICS_TOKEN: BENCH_SERVICE_KEY,
    })
    const app = await buildApp(config)
    cleanup.add(() => app.close())
    const origin = await app.listen({ host: '127.0.0.1', port: 0 })
    const call = async (method: string, path: string, body?: unknown) => {
      const response = await fetch(`${origin}/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${BENCH_SERVICE_KEY}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      if (response.status >= 300)
        throw new Error(`${method} ${path}: HTTP ${response.status} ${await response.text()}`)
      return response.json() as Promise<{ run?: { status: string; added: string[]; flexCalls: number } }>
    }

    const ids = Array.from({ length: TECHNICIANS }, (_, i) => `tech-${i}`)
    await Promise.all(
      ids.map((id, i) => call('PUT', `/technicians/${id}`, { name: id, flexResourceId: `res-${i}` })),
    )
    await call('PUT', '/jobs/bench/crew-calls/sound', { flexElementId: 'bench-element' })
    await call('PUT', '/jobs/bench/crew-calls/sound/assignments', {
      assignments: ids.map((technicianId, i) => ({ technicianId, role: `SND-X-${'RET'[i % 3]}` })),
    })
    flex.calls.length = 0

    const started = performance.now()
    const { run } = await call('POST', '/jobs/bench/crew-calls/sound/sync')
    const wallTimeMs = performance.now() - started
    if (
      run?.status !== 'succeeded' ||
      run.added.length !== TECHNICIANS ||
      flex.lines('bench-element').length !== TECHNICIANS
    ) {
      throw new Error(`the sync did not converge: ${JSON.stringify(run).slice(0, 500)}`)
    }
    const metrics = await (
      await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${BENCH_SERVICE_KEY}` } })
    ).text()
    const budget = (state: string) =>
      Number(
        new RegExp(`rostersync_flex_budget_calls\\{window="hour",state="${state}"\\} (\\d+)`).exec(
          metrics,
        )?.[1],
      )
    return {
      technicians: TECHNICIANS,
      flexLatencyMs: FLEX_LATENCY_MS,
      wallTimeMs,
      maxFlexInFlight: flex.maxInFlight,
      flexCalls: flex.calls.length,
      runFlexCalls: run.flexCalls,
      budgetUsedLastHour: budget('used'),
      budgetLeftThisHour: budget('left'),
      goalMet: wallTimeMs < SYNC_WALL_TIME_GOAL_MS,
    }
  })
}

export function formatCrewSyncBench(figures: CrewSyncBenchFigures): string {
  return (
    `crew sync                 ${figures.technicians} technicians into an empty crew call, Flex latency ` +
    `${figures.flexLatencyMs} ms: ${figures.wallTimeMs.toFixed(0)} ms wall, ${figures.flexCalls} Flex calls ` +
    `(${figures.runFlexCalls} recorded by the run; budget ${figures.budgetUsedLastHour} used, ` +
    `${figures.budgetLeftThisHour} left this hour), at most ${figures.maxFlexInFlight} in flight   ` +
    `goal < ${SYNC_WALL_TIME_GOAL_MS} ms: ${figures.goalMet ? 'met' : 'MISSED'}`
  )
}
