import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process'

/**
 * spawn(), minus tap's hook. In a test process, @tapjs/processinfo adds its `--import` to NODE_OPTIONS
 * of every process spawned (through process-on-spawn, whatever `env` says); TypeScript 7's launcher
 * cannot start under it (ERR_REQUIRE_CYCLE_MODULE), and a helper process that outlives a test has no
 * business reporting to tap. So the child goes through sh, which sets NODE_OPTIONS to what it was
 * without the hook and then execs the command (same pid). Outside tap it changes nothing.
 */
export function spawnWithoutTap(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const env = options.env ?? process.env
  const nodeOptions = (env.NODE_OPTIONS ?? '')
    .split(/\s+/)
    .filter((option) => option !== '' && !option.includes('@tapjs/processinfo'))
    .join(' ')
  return spawn(
    '/bin/sh',
    [
      '-c',
      'export NODE_OPTIONS="$RS_CHILD_NODE_OPTIONS"; unset RS_CHILD_NODE_OPTIONS; exec "$0" "$@"',
      command,
      ...args,
    ],
    { ...options, env: { ...env, RS_CHILD_NODE_OPTIONS: nodeOptions } },
  )
}
