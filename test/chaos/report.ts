import type { ChaosReport } from './run-chaos.ts'

const SHOWN = 40

/** The report as text: what ran, what was injected, what was seen, and every violation. */
export function formatChaosReport({ options, totals, violations, serverErrors }: ChaosReport): string {
  const pairs = (counts: Record<string, number>) =>
    Object.entries(counts)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([key, n]) => `${key} ${n}`)
      .join(', ')
  return [
    `chaos${options.autonomous ? ' (autonomous)' : ''}: ${options.servers} server processes, ${options.clients} clients, ${options.durationMs / 1000} s of faults, seed ${options.seed}; ${totals.seconds.toFixed(1)} s in all`,
    `  operations ${totals.operations}:`,
    ...Object.entries(totals.byKind).map(([kind, outcomes]) => `    ${kind.padEnd(18)} ${pairs(outcomes)}`),
    `  answers: ${pairs(totals.statuses)}`,
    `  faults: ${pairs(totals.faults)}; ${totals.restarts} restarts; Flex rows shaped ${totals.flexShape} over the defaults`,
    ...(totals.autonomousConvergenceSeconds === undefined
      ? []
      : [
          `  autonomous: clients never asked for a sync; every crew call in sync ${totals.autonomousConvergenceSeconds.toFixed(1)} s after the faults stopped`,
        ]),
    `  webhooks: ${totals.webhooks.requests} requests to the faulty receiver, ${totals.webhooks.accepted} accepted; ${totals.webhooks.versionEvents} calendar-set/roster events accepted for ${totals.webhooks.committedVersions} committed versions, ${totals.webhooks.acceptedTwice} accepted twice (same webhook-id); outbox drained ${totals.webhooks.settleSeconds.toFixed(1)} s after the final syncs`,
    `  convergence: ${totals.finalSyncRequests} final sync requests; peak RSS per server ${totals.peakRssMb.join(' / ')} MB`,
    violations.length === 0
      ? '  invariants: all held (no duplicates, no mixed or lost writes, histories gap-free with every acknowledged replace in them, Flex converged, no sync left running, every committed version delivered as a signed webhook and no other, no 5xx but 502/503 problem+json)'
      : [
          `  VIOLATIONS (${violations.length}):`,
          ...violations.slice(0, SHOWN).map((v) => `    ${v}`),
          ...(violations.length > SHOWN ? [`    (+${violations.length - SHOWN} more in the report)`] : []),
        ].join('\n'),
    ...(serverErrors.length === 0
      ? []
      : [
          `  server errors logged (${serverErrors.length}):`,
          ...serverErrors.slice(0, 5).map((line) => `    ${line.slice(0, 2000)}`),
        ]),
  ].join('\n')
}
