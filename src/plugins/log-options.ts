import type { FastifyServerOptions } from 'fastify'
import type { Config } from '../config.ts'
import { traceIdsForLog } from '../telemetry/tracing.ts'

type LoggerOption = FastifyServerOptions['logger']

const REDACT = ['req.headers.authorization', 'headers.authorization']

/**
 * The app's pino options: the given ones (tests pass a level or a stream) or the configured level and
 * format, always with credentials redacted and, inside a traced request or run, the trace's ids on
 * every line (`trace_id`, `span_id`: look the trace up in your tracing backend).
 */
export function logOptions(config: Config, given: LoggerOption | undefined): LoggerOption {
  const options = given ?? { level: config.LOG_LEVEL, ...(prettyWanted(config) && { transport: PRETTY }) }
  if (typeof options !== 'object') return options
  return { ...options, redact: REDACT, mixin: () => traceIdsForLog() ?? {} }
}

const PRETTY = {
  target: 'pino-pretty',
  options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
}

/** LOG_FORMAT: pretty, or auto on a terminal with pino-pretty installed (a dev dependency: not in the image). */
function prettyWanted(config: Config): boolean {
  if (config.LOG_FORMAT === 'json') return false
  if (config.LOG_FORMAT === 'auto' && !process.stdout.isTTY) return false
  try {
    import.meta.resolve('pino-pretty')
    return true
  } catch {
    return false
  }
}
