/**
 * npm run token -- --sub <user> [--role <role>] [--ttl <seconds>]: prints a user token (a JWT) the local
 * service accepts, read from the same environment as the service (src/auth/development-token.ts says
 * which secret). Development only: refused when NODE_ENV=production. Only the token goes to stdout,
 * so `TOKEN=$(npm run -s token -- --sub alice)` works.
 * Exit codes: 0 printed, 2 a usage or configuration error, or refused.
 */
import { parseArgs } from 'node:util'
import { mintDevelopmentToken } from '../src/auth/development-token.ts'
import { loadConfig } from '../src/config.ts'

const USAGE = `usage: npm run token -- --sub <user> [--role <role>] [--ttl <seconds>]
  --sub, -s   the user the token names (its sub claim), e.g. alice
  --role, -r  its role claim, e.g. admin or management; none by default
  --ttl       lifetime in seconds (default 28800, 8 hours)
  --help, -h  this text
development only: refused when NODE_ENV=production`

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: process.argv.slice(2),
    options: {
      sub: { type: 'string', short: 's' },
      role: { type: 'string', short: 'r' },
      ttl: { type: 'string', default: '28800' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    console.log(USAGE)
    return 0
  }
  const sub = values.sub?.trim()
  const ttlSeconds = Number(values.ttl)
  if (!sub || !Number.isInteger(ttlSeconds) || ttlSeconds < 1) {
    console.error(`${sub ? '--ttl must be a whole number of seconds' : '--sub <user> is required'}\n${USAGE}`)
    return 2
  }
  const token = await mintDevelopmentToken(loadConfig(process.env), { sub, role: values.role, ttlSeconds })
  console.log(token)
  return 0
}

try {
  process.exitCode = await main()
} catch (error) {
  console.error(error instanceof Error ? error.message : String(error))
  process.exitCode = 2
}
