import { type FastifyReply, type FastifyRequest, LogController } from 'fastify'

/** Pino's level check (the app's logger is pino; a logger given in its place may lack it). */
type PinoLevels = { isLevelEnabled?: (level: string) => boolean }

/**
 * One log line per request, when it completes: request id, method, route, URL, status and duration.
 * (Fastify's default logs two lines and omits the route.) Headers are never logged.
 */
export class RequestLogController extends LogController {
  override incomingRequest(): void {}

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    // Below the logger's level (LOG_LEVEL warn or error), a completed request costs no line object.
    if (!error && (reply.log as PinoLevels).isLevelEnabled?.('info') === false) return
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      url: request.url,
      statusCode: reply.statusCode,
      durationMs: Math.round(reply.elapsedTime * 100) / 100,
    }
    if (error) reply.log.error({ ...line, err: error }, 'request errored')
    else reply.log.info(line, 'request completed')
  }
}
