import type { CalendarInput } from '../src/services/calendars/calendar-schemas.ts'

/** One replace of a user's whole set: the service's PUT, or the baseline's function call. */
export type ReplaceCalendars = (userId: string, calendars: CalendarInput[]) => Promise<void>

/**
 * The `generation`-th set of `size` calendars: ids from ceil(size/2) * generation on. Each generation
 * keeps the newer half of the previous one unchanged and rotates the other half (deleted, as many new).
 */
export function calendarGeneration(generation: number, size: number): CalendarInput[] {
  const first = generation * Math.ceil(size / 2)
  return Array.from({ length: size }, (_, i) => {
    const n = first + i
    return {
      calendarId: `c${n}@group.calendar.google.com`,
      summary: `Calendar ${n}`,
      description: null,
      timeZone: 'Europe/Madrid',
      backgroundColor: '#9fe1e7',
      foregroundColor: '#000000',
      accessRole: 'reader',
      primary: false,
      selected: true,
    }
  })
}

/**
 * Round-robin over `users` users, each sent its next generation. With fewer clients than users, no two
 * requests for one user are in flight at once, so the benchmark measures replaces, not lock waits.
 */
export class RotatingSets {
  private readonly generations = new Map<string, number>()
  private turn = 0

  constructor(
    private readonly userPrefix: string,
    private readonly users: number,
    private readonly setSize: number,
  ) {}

  /** A load's call: each call replaces the next user's set with its next generation through `replace`. */
  calls(replace: ReplaceCalendars): () => Promise<void> {
    return () => {
      const { userId, calendars } = this.next()
      return replace(userId, calendars)
    }
  }

  next(): { userId: string; calendars: CalendarInput[] } {
    const userId = `${this.userPrefix}-${this.turn++ % this.users}`
    const generation = this.generations.get(userId) ?? 0
    this.generations.set(userId, generation + 1)
    return { userId, calendars: calendarGeneration(generation, this.setSize) }
  }
}
