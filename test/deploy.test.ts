import { readFileSync } from 'node:fs'
import t from 'tap'
import { isMemoryFlag, productionNodeFlags } from '../bench/service.ts'
import { loadConfig } from '../src/config.ts'

/**
 * The memory budget's V8 flags (heap limits, WebAssembly tier) are one setting in three places: `npm start`, `npm run worker` and
 * the Docker image's CMD. The benchmark runs the service with the start script's (productionNodeFlags),
 * so a limit changed in one place only would be measured under the wrong one.
 */

const read = (file: string) => readFileSync(new URL(`../${file}`, import.meta.url), 'utf8')
const heapFlags = (words: string[]) => words.filter(isMemoryFlag).sort()

t.test(
  'npm start, npm run worker and the Docker image run with the same heap limits and wasm tier',
  async (t) => {
    const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
    const start = heapFlags(productionNodeFlags())
    t.same(
      start,
      ['--liftoff-only', '--max-old-space-size=128', '--max-semi-space-size=2'],
      'the flags docs/operations.md documents',
    )
    t.same(heapFlags((scripts.worker ?? '').split(/\s+/)), start, 'npm run worker')
    const cmd = /^CMD (\[.*\])$/m.exec(read('Dockerfile'))?.[1]
    t.ok(cmd, 'the Dockerfile has an exec-form CMD')
    t.same(heapFlags(JSON.parse(cmd ?? '[]') as string[]), start, 'the Docker image')
  },
)

t.test('the image stops with SIGTERM, checks readiness, and compose waits out drain + timeout', async (t) => {
  const dockerfile = read('Dockerfile')
  t.match(dockerfile, /^STOPSIGNAL SIGTERM$/m, 'STOPSIGNAL SIGTERM')
  t.match(dockerfile, /^HEALTHCHECK [\s\S]*\/health\/ready/m, 'the HEALTHCHECK asks /health/ready')
  const defaults = loadConfig({})
  const grace = /^\s+stop_grace_period: (\d+)s$/m.exec(read('docker-compose.yml'))?.[1]
  t.ok(
    Number(grace) * 1000 > defaults.SHUTDOWN_DRAIN_MS + defaults.SHUTDOWN_TIMEOUT_MS,
    `compose's stop_grace_period (${grace} s) exceeds SHUTDOWN_DRAIN_MS + SHUTDOWN_TIMEOUT_MS`,
  )
})

t.test('npm start and npm run worker build only when sources changed, then always run dist/', async (t) => {
  const { scripts } = JSON.parse(read('package.json')) as { scripts: Record<string, string> }
  for (const name of ['start', 'worker']) {
    const [check, run] = (scripts[name] ?? '').split(' && ')
    t.equal(
      check,
      'tsx scripts/build-if-changed.ts',
      `npm run ${name} checks the stamp instead of always building`,
    )
    t.match(run, /^node .* dist\/src\/server\.js/, `npm run ${name} then runs what was built`)
  }
})
