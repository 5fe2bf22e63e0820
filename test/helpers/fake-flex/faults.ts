import type { FlexEndpoint } from '../../../src/flex/flex-errors.ts'

/** What the fake does instead of answering a call normally. */
export type Fault =
  /** Answers this instead of performing the call, after `afterMs`. */
  | { kind: 'answer'; status: number; body: unknown; headers: Record<string, string>; afterMs: number }
  /** Never answers, and does nothing, until the client gives up and closes the connection. */
  | { kind: 'hang' }
  /** Performed only after `afterMs` (the client may have given up by then), then answered. */
  | { kind: 'land-late'; afterMs: number }
  /** A 200 row-data list streamed as fast as the client reads: `bytes` of it, or without end. */
  | { kind: 'stream'; bytes: number | undefined }
  /** Performs the add, then loses the answer: drops the connection, answers 500, or never answers. */
  | { kind: 'lose-answer'; how: LoseHow }

export type LoseHow = 'drop' | 'error' | 'hang'

interface Queued {
  fault: Fault
  remaining: number
}

/** Faults per endpoint, used in the order they were queued, each for its number of calls. */
export class FaultQueue {
  private queues = new Map<FlexEndpoint, Queued[]>()

  push(endpoint: FlexEndpoint, fault: Fault, times: number): void {
    if (times < 1) return
    const queue = this.queues.get(endpoint) ?? []
    queue.push({ fault, remaining: times })
    this.queues.set(endpoint, queue)
  }

  /** The fault for the next call to `endpoint`, if any is pending. */
  take(endpoint: FlexEndpoint): Fault | undefined {
    const queue = this.queues.get(endpoint)
    const head = queue?.[0]
    if (!queue || !head) return undefined
    head.remaining--
    if (head.remaining === 0) queue.shift()
    return head.fault
  }

  clear(): void {
    this.queues.clear()
  }
}
