import { Debug } from '@prisma/client/runtime/client'
import { clearLogs } from '@prisma/debug'

/**
 * Prisma keeps the arguments of its last 100 debug calls for its error reports, whether or not DEBUG is
 * set: its client records each raw query with its parameters (a copy bundled in the client runtime), and
 * the pg adapter each query it sends (@prisma/debug). A replace of 10,000 calendars sends its set as one
 * parameter of megabytes, so 100 such entries could keep hundreds of megabytes alive long after their
 * requests ended. Neither history has a size bound, nor an option to turn it off; @prisma/debug exports
 * clearLogs(), the runtime's copy does not, so it is flushed by recording HISTORY_LENGTH empty entries.
 */
const HISTORY_LENGTH = 100
const recordEmpty = Debug('rostersync:forget-arguments')

/** Parameters at least this long (UTF-16 code units, or bytes) are forgotten once their query is done. */
const LARGE_PARAMETER_LENGTH = 64 * 1024

/** Drops the arguments both of Prisma's debug histories hold (the error reports lose their context). */
function forgetPrismaArguments(): void {
  clearLogs()
  for (let entry = 0; entry < HISTORY_LENGTH; entry++) recordEmpty('')
}

/** Forgets Prisma's recorded arguments when `parameter` (a string or a Buffer) is large enough to matter. */
export function forgetIfLarge(parameter: { length: number } | null): void {
  if ((parameter?.length ?? 0) >= LARGE_PARAMETER_LENGTH) forgetPrismaArguments()
}
