import fp from 'fastify-plugin'
import { type Config, effectiveSettings } from '../config.ts'

/**
 * One info line when the app is ready, saying what this instance will do: whether Flex is configured
 * (and where), whether reconcile workers run (how many, which poll, debounce and backoff), the Flex call
 * budget, how much history is kept and whether traces are exported. The settings are in the line's
 * `settings` field; no secret ever is (src/config.ts, effectiveSettings).
 */
export default fp<{ config: Config }>(
  async function startLinePlugin(app, { config }) {
    app.addHook('onReady', async () => {
      const settings = effectiveSettings(config)
      app.log.info({ settings }, startMessage(settings))
    })
  },
  { name: 'start-line' },
)

function startMessage(settings: ReturnType<typeof effectiveSettings>): string {
  const { flex, workers, flexCallBudget, history, tracing } = settings
  const parts = [
    flex.configured
      ? `Flex at ${flex.url}`
      : `Flex not configured (set ${flex.missing.join(' and ')}): syncs are refused`,
    workers.running
      ? `${workers.concurrency} reconcile workers (poll ${workers.pollMs} ms, debounce ${workers.debounceMs} ms)`
      : `no reconcile workers (${workers.why})`,
    `Flex call budget ${flexCallBudget.perHour}/hour, ${flexCallBudget.perDay}/day`,
    `history keeps ${history.keepVersions} versions and ${history.keepDays} days`,
    tracing.on ? `traces to ${tracing.url} (${tracing.protocol})` : 'tracing off',
  ]
  return `rostersync ready: ${parts.join('; ')}`
}
