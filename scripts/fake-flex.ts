/**
 * npm run flex:fake: a fake Flex API on 127.0.0.1 for trying rostersync by hand, empty at start.
 * Environment: FAKE_FLEX_PORT (default 4010), FAKE_FLEX_TOKEN (default dev-token),
 * FAKE_FLEX_LATENCY_MS (default 0). Logs every call; stops on SIGINT/SIGTERM.
 * A thin entry: the fake itself is the test helper test/helpers/fake-flex/ (one module, fake-flex.ts).
 */
import { z } from 'zod'
import { startFakeFlex } from '../test/helpers/fake-flex/fake-flex.ts'

const env = z
  .object({
    FAKE_FLEX_PORT: z.coerce.number().int().min(0).max(65535).default(4010),
    FAKE_FLEX_TOKEN: z.string().min(1).default('dev-token'),
    FAKE_FLEX_LATENCY_MS: z.coerce.number().int().min(0).default(0),
  })
  .parse(Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== '')))

const fake = await startFakeFlex({
  port: env.FAKE_FLEX_PORT,
  token: env.FAKE_FLEX_TOKEN,
  latencyMs: env.FAKE_FLEX_LATENCY_MS,
  onCall: (call) => {
    const took = call.endedAt === null ? '' : ` ${Math.round(call.endedAt - call.startedAt)} ms`
    console.log(`${call.method} ${call.path} [${call.endpoint}] -> ${call.status ?? 'no answer'}${took}`)
  },
})

console.log(`fake Flex listening; point rostersync at it with:
  FLEX_BASE_URL=${fake.url}
  FLEX_AUTH_TOKEN=${fake.token}`)

const stop = async (signal: NodeJS.Signals) => {
  console.log(`${signal}: stopping fake Flex`)
  await fake.close()
  process.exit(0)
}
process.once('SIGINT', stop)
process.once('SIGTERM', stop)
