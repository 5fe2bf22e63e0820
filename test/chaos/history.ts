/**
 * What the chaos suite's clients did and saw, and what its fault injector did, in the order things
 * started. Like a Jepsen history: every operation has a start, an end and an outcome, and the checker
 * judges the final state against it, never against what the code under test says about itself.
 */

/**
 * - ok: a 2xx answer; the change took effect.
 * - failed: a 4xx answer, or a connection refused before any request was sent; nothing took effect.
 * - unknown: a timeout, a reset, or a 5xx; the change may or may not have taken effect. A 5xx counts
 *   here because a connection that dies during COMMIT leaves the server unable to know either.
 */
export type Outcome = 'ok' | 'failed' | 'unknown'

export type OperationKind =
  | 'replace-calendars'
  | 'replace-roster'
  | 'upsert-assignment'
  | 'delete-assignment'
  | 'sync-crew-call'
  | 'sync-job'
  | 'read-calendars'
  | 'read-roster'
  /** Technicians and crew calls created before the load starts. */
  | 'setup'

export interface Operation {
  id: number
  /** The load generator's client (a worker with one request in flight at a time). */
  client: number
  /** The index of the server process the request went to. */
  server: number
  kind: OperationKind
  method: string
  path: string
  payload?: unknown
  /**
   * For writes, the register the operation writes (e.g. `calendars:hot-0`) and the value it writes
   * there, in the canonical form the checker reads the final state in.
   */
  register?: string
  value?: string
  /** The register's value as the answer showed it: a read's result, or the set a replace returned. */
  observed?: string
  /** The version a successful calendar or roster replace answered (its set must be in the history at it). */
  version?: number
  /** performance.now() at the start and the end of the request, as the client saw them. */
  start: number
  end: number | null
  outcome: Outcome | null
  status?: number
  contentType?: string
  /** The problem type of an error answer, or the network error. */
  error?: string
}

export interface FaultEvent {
  kind: string
  at: number
  detail: string
}

export class History {
  readonly operations: Operation[] = []
  readonly faults: FaultEvent[] = []
  private nextId = 1

  begin(op: Omit<Operation, 'id' | 'start' | 'end' | 'outcome'>): Operation {
    const operation: Operation = {
      ...op,
      id: this.nextId++,
      start: performance.now(),
      end: null,
      outcome: null,
    }
    this.operations.push(operation)
    return operation
  }

  finish(
    op: Operation,
    outcome: Outcome,
    details: Pick<Operation, 'status' | 'contentType' | 'error' | 'observed' | 'version'>,
  ): void {
    Object.assign(op, details, { end: performance.now(), outcome })
  }

  fault(kind: string, detail: string): void {
    this.faults.push({ kind, at: performance.now(), detail })
  }

  /** Operations still waiting for an answer. */
  inFlight(): Operation[] {
    return this.operations.filter((op) => op.outcome === null)
  }

  /** One JSON object a line: the operations, then the faults. */
  toJsonLines(): string {
    const lines = [
      ...this.operations.map((op) => JSON.stringify({ type: 'op', ...op })),
      ...this.faults.map((fault) => JSON.stringify({ type: 'fault', ...fault })),
    ]
    return `${lines.join('\n')}\n`
  }
}
