/**
 * Runs each prune (calendar and roster history: versions beyond HISTORY_KEEP_VERSIONS and older than
 * HISTORY_KEEP_DAYS; the webhook outbox's delivered events older than WEBHOOK_KEEP_DAYS; in bounded
 * batches) every `intervalMs` on this instance; the returned function
 * stops it and waits for a round under way. A failed prune is reported and retried next round.
 */
export function startHistoryPruning(
  intervalMs: number,
  prunes: (() => Promise<number>)[],
  onError: (error: unknown) => void,
): () => Promise<void> {
  let round: Promise<unknown> = Promise.resolve()
  const timer = setInterval(() => {
    round = Promise.all(prunes.map((prune) => prune().catch(onError)))
  }, intervalMs)
  timer.unref()
  return async () => {
    clearInterval(timer)
    await round
  }
}
