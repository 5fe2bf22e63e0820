import type { CalendarView } from '../../src/services/calendars/calendar-schemas.ts'
import type { AssignmentView } from '../../src/services/crew/crew-schemas.ts'
import type { History, Operation, Outcome } from './history.ts'
import type { Random } from './random.ts'
import {
  ABSENT,
  assignmentRegister,
  CALENDARS_PER_USER,
  type ChaosCrewCall,
  COLD_USERS,
  CREW_CALLS,
  calendarRegister,
  canonicalSet,
  HOT_USERS,
  rosterRegister,
  TECHNICIANS,
  TIERS,
} from './scenario.ts'

export interface WorkloadOptions {
  clients: number
  /** A request still unanswered after this long is abandoned: its outcome is unknown. */
  requestTimeoutMs: number
  authorization: string
  /** False: clients never ask for a sync; the servers' workers must converge on their own. */
  clientSyncs: boolean
}

/** Where each client sends its next request: the URL of a server process, by index. */
export type ServerUrls = () => string[]

/** A request the load generator sends: what the history logs of it, and how to read its answer. */
export type PlannedRequest = Pick<
  Operation,
  'kind' | 'method' | 'path' | 'payload' | 'register' | 'value'
> & {
  /** Reads the register's value from a 2xx answer's body (reads, and replaces, which return the set). */
  observe?: (body: unknown) => string
}

/**
 * The load generator: `clients` workers, each with one request in flight at a time, each request to
 * a random server, until stop(). Every request is logged in the history with its outcome.
 */
export class Workload {
  private running = false
  private sequence = 0
  private workers: Promise<void>[] = []

  constructor(
    private readonly history: History,
    private readonly urls: ServerUrls,
    private readonly random: Random,
    private readonly options: WorkloadOptions,
  ) {}

  start(): void {
    this.running = true
    this.workers = Array.from({ length: this.options.clients }, (_, client) => this.work(client))
  }

  /** Stops issuing requests and waits for the ones in flight to end. */
  async stop(): Promise<void> {
    this.running = false
    await Promise.all(this.workers)
  }

  /** Sends one request to server `server` and logs it; returns it with the answer's JSON body. */
  async send(
    client: number,
    server: number,
    request: PlannedRequest,
  ): Promise<{ op: Operation; body: unknown }> {
    const url = this.urls()[server]
    const { observe, ...logged } = request
    const op = this.history.begin({ client, server, ...logged })
    let body: unknown
    try {
      const response = await fetch(`${url}${request.path}`, {
        method: request.method,
        headers: {
          authorization: this.options.authorization,
          ...(request.payload !== undefined && { 'content-type': 'application/json' }),
        },
        body: request.payload === undefined ? undefined : JSON.stringify(request.payload),
        signal: AbortSignal.timeout(this.options.requestTimeoutMs),
      })
      const text = await response.text()
      const contentType = response.headers.get('content-type') ?? undefined
      body = parseJson(text)
      const error = response.ok ? undefined : problemOf(body, text)
      const observed = response.ok && observe ? observe(body) : undefined
      const version = (body as { version?: unknown } | undefined)?.version
      this.history.finish(op, outcomeOf(response.status), {
        status: response.status,
        contentType,
        error,
        observed,
        ...(response.ok &&
          request.kind === 'replace-calendars' &&
          typeof version === 'number' && { version }),
      })
    } catch (error) {
      const reason = networkError(error)
      this.history.finish(op, reason === 'ECONNREFUSED' ? 'failed' : 'unknown', { error: reason })
    }
    return { op, body }
  }

  randomServer(): number {
    return this.random.int(this.urls().length)
  }

  private async work(client: number): Promise<void> {
    while (this.running) await this.send(client, this.randomServer(), this.next())
  }

  /**
   * The next request, by weight: calendar replaces 35%, reads 15%, roster writes 30%, syncs 20% (roster
   * writes instead when clients never ask for syncs).
   */
  private next(): PlannedRequest {
    const roll = this.random.next()
    if (roll < 0.35) return this.replaceCalendars()
    if (roll < 0.5) return this.read()
    if (roll < 0.8 || !this.options.clientSyncs) return this.rosterWrite(this.random.pick(CREW_CALLS))
    const crewCall = this.random.pick(CREW_CALLS)
    return roll < 0.96
      ? { kind: 'sync-crew-call', method: 'POST', path: `${crewCallPath(crewCall)}/sync` }
      : { kind: 'sync-job', method: 'POST', path: `/v1/jobs/${crewCall.jobId}/sync` }
  }

  /** A read of a hot user's calendars or of a replaced roster: every read must see one whole write. */
  private read(): PlannedRequest {
    if (this.random.next() < 0.6) {
      const userId = this.random.pick(HOT_USERS)
      const path = `/v1/users/${userId}/calendars`
      return {
        kind: 'read-calendars',
        method: 'GET',
        path,
        register: calendarRegister(userId),
        observe: calendarSet,
      }
    }
    const crewCall = this.random.pick(CREW_CALLS.filter((c) => c.writes === 'replace'))
    const path = `${crewCallPath(crewCall)}/assignments`
    return {
      kind: 'read-roster',
      method: 'GET',
      path,
      register: rosterRegister(crewCall),
      observe: rosterSet,
    }
  }

  private replaceCalendars(): PlannedRequest {
    const userId = this.random.next() < 0.7 ? this.random.pick(HOT_USERS) : this.random.pick(COLD_USERS)
    const tag = this.tag()
    const size = this.random.next() < 0.05 ? 0 : 1 + this.random.int(6)
    const ids = this.random.sample(
      Array.from({ length: CALENDARS_PER_USER }, (_, i) => `cal-${i}@${userId}`),
      size,
    )
    const calendars = ids.map((calendarId) => ({ calendarId, summary: `${calendarId} ${tag}` }))
    return {
      kind: 'replace-calendars',
      method: 'PUT',
      path: `/v1/users/${userId}/calendars`,
      payload: { calendars },
      register: calendarRegister(userId),
      value: canonicalSet(calendars.map((c) => [c.calendarId, c.summary])),
      observe: calendarSet,
    }
  }

  private rosterWrite(crewCall: ChaosCrewCall): PlannedRequest {
    const path = `${crewCallPath(crewCall)}/assignments`
    if (crewCall.writes === 'replace') {
      const technicians = this.random.sample(TECHNICIANS, this.random.int(9))
      const assignments = technicians.map(({ technicianId }) => ({ technicianId, role: this.role() }))
      return {
        kind: 'replace-roster',
        method: 'PUT',
        path,
        payload: { assignments },
        register: rosterRegister(crewCall),
        value: canonicalSet(assignments.map((a) => [a.technicianId, a.role])),
        observe: rosterSet,
      }
    }
    const { technicianId } = this.random.pick(TECHNICIANS)
    const register = assignmentRegister(crewCall, technicianId)
    if (this.random.next() < 0.35) {
      return {
        kind: 'delete-assignment',
        method: 'DELETE',
        path: `${path}/${technicianId}`,
        register,
        value: ABSENT,
      }
    }
    const role = this.role()
    return {
      kind: 'upsert-assignment',
      method: 'PUT',
      path: `${path}/${technicianId}`,
      payload: { role },
      register,
      value: role,
    }
  }

  /** A role code unique to this request, e.g. OP-K3F-E: the value names its writer. */
  private role(): string {
    return `OP-${this.tag()}-${this.random.pick(TIERS)}`
  }

  /** Unique to one request: calendar summaries and role codes carry it. */
  private tag(): string {
    return (++this.sequence).toString(36).toUpperCase()
  }
}

export const crewCallPath = (c: Pick<ChaosCrewCall, 'jobId' | 'department'>) =>
  `/v1/jobs/${c.jobId}/crew-calls/${c.department}`

const calendarSet = (body: unknown) =>
  canonicalSet((body as { calendars: CalendarView[] }).calendars.map((c) => [c.calendarId, c.summary]))
const rosterSet = (body: unknown) =>
  canonicalSet((body as { assignments: AssignmentView[] }).assignments.map((a) => [a.technicianId, a.role]))

function outcomeOf(status: number): Outcome {
  if (status < 400) return 'ok'
  return status < 500 ? 'failed' : 'unknown'
}

/** An error answer as `<problem type>: <detail>`, or its text when it is no problem+json. */
function problemOf(body: unknown, text: string): string {
  const problem = body as { type?: string; detail?: string } | undefined
  return problem?.type ? `${problem.type}: ${problem.detail ?? ''}`.slice(0, 300) : text.slice(0, 300)
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text)
  } catch {
    return undefined
  }
}

/** The root cause's code (ECONNREFUSED, ECONNRESET, ...) or the error's name (TimeoutError). */
function networkError(error: unknown): string {
  let current = error as { code?: string; name?: string; cause?: unknown } | undefined
  while (current?.cause) current = current.cause as typeof current
  return current?.code ?? current?.name ?? (error as Error).name ?? String(error)
}
