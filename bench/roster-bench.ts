import pg from 'pg'
import type { AssignmentInput } from '../src/services/crew/crew-schemas.ts'
import { compareThroughput, type ThroughputOptions } from './calendar-throughput.ts'
import { createBenchDatabase } from './database.ts'
import { withCleanup } from './lib.ts'
import { BenchClient, replaceRosterOverHttp, startServiceProcess } from './service.ts'

export const ROSTER_RATIO_GOAL = 0.5

const THROUGHPUT: ThroughputOptions & { jobs: number; rosterSize: number; technicians: number } = {
  clients: 16,
  jobs: 200,
  rosterSize: 10,
  technicians: 40,
  warmupCalls: 600,
  warmupRounds: 2,
  durationMs: 6_000,
  rounds: 4,
}

export interface RosterBenchFigures {
  throughput: typeof THROUGHPUT & { service: number; baseline: number; ratio: number; goalMet: boolean }
}

type ReplaceRoster = (jobId: string, assignments: AssignmentInput[]) => Promise<void>

/** The `generation`-th roster of a job: `rosterSize` technicians, half kept from the last, half rotated. */
function rosterGeneration(generation: number): AssignmentInput[] {
  const { rosterSize, technicians } = THROUGHPUT
  const first = generation * Math.ceil(rosterSize / 2)
  return Array.from({ length: rosterSize }, (_, i) => ({
    technicianId: `tech-${(first + i) % technicians}`,
    role: 'SND-FOH-R',
  }))
}

/** Round-robin over a contender's own jobs, each sent its next roster. */
function rotatingRosters(prefix: string, replace: ReplaceRoster): () => Promise<void> {
  const generations = new Map<string, number>()
  let turn = 0
  return () => {
    const jobId = `${prefix}-${turn++ % THROUGHPUT.jobs}`
    const generation = generations.get(jobId) ?? 0
    generations.set(jobId, generation + 1)
    return replace(jobId, rosterGeneration(generation))
  }
}

/**
 * The roster PUT (the built service in its own process, over HTTP) against its physical limit: the
 * migration's replace_roster called over pg, no HTTP. Technicians and crew calls are created first,
 * over HTTP; each side rotates rosters of crew calls of its own.
 */
export function runRosterBench(): Promise<RosterBenchFigures> {
  return withCleanup(async (cleanup) => {
    const databaseUrl = await createBenchDatabase(cleanup)
    const server = await startServiceProcess(
      { DATABASE_URL: databaseUrl, DB_POOL_MAX: String(THROUGHPUT.clients) },
      cleanup,
    )
    const client = new BenchClient(server.url, THROUGHPUT.clients, cleanup)
    for (let i = 0; i < THROUGHPUT.technicians; i++) {
      await expectOk(
        client.put(`/v1/technicians/tech-${i}`, { name: `Technician ${i}`, flexResourceId: `res-${i}` }),
      )
    }
    for (const prefix of ['service', 'baseline']) {
      for (let i = 0; i < THROUGHPUT.jobs; i++) {
        await expectOk(
          client.put(`/v1/jobs/${prefix}-${i}/crew-calls/sound`, { flexElementId: `${prefix}-el-${i}` }),
        )
      }
    }
    const pool = new pg.Pool({ connectionString: databaseUrl, max: THROUGHPUT.clients })
    cleanup.add(() => pool.end())
    const baseline: ReplaceRoster = async (jobId, assignments) => {
      const roster = JSON.stringify(
        assignments.map((a) => ({ technician_id: a.technicianId, role: a.role ?? null })),
      )
      const { rows } = await pool.query<{
        crew_call_exists: boolean
        unknown_technicians: number[] | null
        answer: string | null
      }>(`SELECT * FROM replace_roster($1, 'sound', NULL, $2::jsonb, $3, 'service:bench', NULL)`, [
        jobId,
        roster,
        2_000,
      ])
      const row = rows[0]
      // The function answers the roster as the PUT's JSON text (null when it wrote nothing).
      if (!row?.crew_call_exists || row.unknown_technicians?.length || !row.answer)
        throw new Error(`baseline roster of ${jobId} failed`)
    }
    const rates = await compareThroughput(
      databaseUrl,
      {
        service: rotatingRosters('service', replaceRosterOverHttp(client)),
        baseline: rotatingRosters('baseline', baseline),
      },
      THROUGHPUT,
    )
    const ratio = rates.service / rates.baseline
    return { throughput: { ...THROUGHPUT, ...rates, ratio, goalMet: ratio >= ROSTER_RATIO_GOAL } }
  })
}

async function expectOk(answer: Promise<{ status: number; body: string }>): Promise<void> {
  const { status, body } = await answer
  if (status >= 300) throw new Error(`setup: HTTP ${status} ${body.slice(0, 300)}`)
}

export function formatRosterBench({ throughput }: RosterBenchFigures): string {
  return [
    `roster PUT throughput     service ${throughput.service.toFixed(0)} req/s   ` +
      `baseline ${throughput.baseline.toFixed(0)} req/s   ratio ${throughput.ratio.toFixed(2)}   ` +
      `goal >= ${ROSTER_RATIO_GOAL}: ${throughput.goalMet ? 'met' : 'MISSED'}`,
    `  (${throughput.clients} clients, ${throughput.jobs} crew calls per side, ${throughput.rosterSize} ` +
      `technicians per roster, half kept, half rotated; baseline: replace_roster over pg, no HTTP)`,
  ].join('\n')
}
