/**
 * npm run flex:doctor -- --element <flexElementId> [--out <file>]: a read-only look at a real Flex
 * element (one list call, never a change) to check the token and how rostersync reads the element's
 * rows, before a sync acts on it. Writes a sanitised copy of Flex's answer under .data/ (ignored by
 * git) for test/fixtures/flex/, and says where.
 * Environment: FLEX_BASE_URL and FLEX_AUTH_TOKEN (required), FLEX_TIMEOUT_MS, FLEX_BUSINESS_ROLES.
 * It reads the database the service would use, to know the technicians and the Flex call budget left:
 * DATABASE_URL, else the embedded PostgreSQL under EMBEDDED_PG_DATA_DIR (the running one, or started
 * for the check and stopped after); without either it classifies rows without them.
 * Exit codes: 0 every row classified, 1 a row unclassifiable or the list failed, 2 a usage or
 * configuration error.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { type Config, ConfigError, flexSettings, loadConfig } from '../src/config.ts'
import {
  embeddedClusterExists,
  runningEmbeddedPostgresUrl,
  startEmbeddedPostgres,
} from '../src/db/embedded-postgres.ts'
import { createPool } from '../src/db/pool.ts'
import { createPrismaClient, type PrismaClient } from '../src/db/prisma.ts'
import { type DiagnoseInput, diagnose, exitCodeOf, formatReport } from '../src/flex/flex-doctor.ts'
import { FlexCallBudget } from '../src/services/sync/flex-call-budget.ts'

const USAGE = `usage: npm run flex:doctor -- --element <flexElementId> [--out <file>]
  --element, -e  the Flex element (crew call) to list, read-only
  --out, -o      where to write the sanitised capture (default .data/flex-capture-<element>.json)
  --help, -h     this text
needs FLEX_BASE_URL and FLEX_AUTH_TOKEN; reads the service's database (DATABASE_URL or the embedded one)`

/** Where captures go by default: .data/, beside the embedded database and ignored by git. */
const CAPTURE_DIR = '.data'

class UsageError extends Error {}

/** The command line, or a UsageError; undefined when only --help was asked for. */
function parseCommandLine(args: string[]): { elementId: string; out: string } | undefined {
  let values: { element?: string; out?: string; help?: boolean }
  try {
    values = parseArgs({
      args,
      options: {
        element: { type: 'string', short: 'e' },
        out: { type: 'string', short: 'o' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (error) {
    throw new UsageError((error as Error).message)
  }
  if (values.help) return undefined
  const elementId = values.element?.trim()
  if (!elementId) throw new UsageError('--element <flexElementId> is required')
  const defaultOut = join(CAPTURE_DIR, `flex-capture-${elementId.replace(/[^\w.-]/g, '_')}.json`)
  return { elementId, out: values.out ?? defaultOut }
}

/**
 * The database the service would use, as a URL and a sentence saying which it is: DATABASE_URL; the
 * embedded cluster under EMBEDDED_PG_DATA_DIR while a service runs on it; or that cluster started here
 * for the check (`stop` stops it again). Undefined when there is none (the service never started).
 */
async function serviceDatabase(
  config: Config,
): Promise<{ url: string; which: string; stop?: () => Promise<void> } | undefined> {
  if (config.DATABASE_URL) return { url: config.DATABASE_URL, which: 'DATABASE_URL' }
  const dataDir = config.EMBEDDED_PG_DATA_DIR
  const running = await runningEmbeddedPostgresUrl(dataDir)
  if (running) return { url: running, which: `the embedded PostgreSQL running in ${dataDir}` }
  if (!embeddedClusterExists(dataDir)) return undefined
  const started = await startEmbeddedPostgres({ dataDir, port: config.EMBEDDED_PG_PORT })
  return {
    url: started.url,
    which: `the embedded PostgreSQL in ${dataDir} (started for this check, stopped after)`,
    stop: () => started.stop(),
  }
}

/** What the database tells the doctor: the known technicians and the budget; closed by `close`. */
async function openDatabase(config: Config, url: string, which: string) {
  const pool = createPool(url, config, { warn: (_details, message) => console.error(message) })
  const prisma: PrismaClient = createPrismaClient(pool)
  const close = async () => {
    await prisma.$disconnect()
    await pool.end()
  }
  try {
    const budget = new FlexCallBudget(prisma, {
      perHour: config.FLEX_CALLS_PER_HOUR,
      perDay: config.FLEX_CALLS_PER_DAY,
    })
    const budgetUsage = await budget.usage()
    const knownTechnicians = async (resourceIds: string[]) => {
      const technicians = await prisma.technician.findMany({
        where: { flexResourceId: { in: resourceIds } },
        select: { id: true, flexResourceId: true },
      })
      return new Map(technicians.map((technician) => [technician.flexResourceId, technician.id]))
    }
    return { budgetUsage, knownTechnicians, close }
  } catch (error) {
    await close()
    throw new Error(`cannot read the database (${which}): ${(error as Error).message}`, { cause: error })
  }
}

async function main(): Promise<number> {
  const command = parseCommandLine(process.argv.slice(2))
  if (!command) {
    console.log(USAGE)
    return 0
  }
  const config = loadConfig(process.env)
  const flex = flexSettings(config)
  if (!flex) {
    console.error('FLEX_BASE_URL and FLEX_AUTH_TOKEN must both be set: the doctor lists a real Flex element')
    return 2
  }
  const source = await serviceDatabase(config)
  let database: Awaited<ReturnType<typeof openDatabase>> | undefined
  try {
    if (source) {
      database = await openDatabase(config, source.url, source.which)
      console.log(`database: ${source.which}`)
    } else {
      console.log(
        `no database: neither DATABASE_URL nor an embedded PostgreSQL in ${config.EMBEDDED_PG_DATA_DIR} ` +
          '(npm start creates it): rows are classified without knowing which resources are technicians; budget unknown',
      )
    }
    const input: DiagnoseInput = {
      flex: { ...flex, timeoutMs: config.FLEX_TIMEOUT_MS, maxAnswerBytes: config.FLEX_MAX_ANSWER_BYTES },
      elementId: command.elementId,
      roleIds: Object.values(config.FLEX_BUSINESS_ROLES).flatMap((tiers) => Object.values(tiers ?? {})),
      ...(database && { knownTechnicians: database.knownTechnicians, budgetUsage: database.budgetUsage }),
    }
    const report = await diagnose(input)
    console.log(formatReport(report))
    if (report.outcome === 'read' && Array.isArray(report.capture)) {
      await mkdir(dirname(resolve(command.out)), { recursive: true })
      await writeFile(command.out, `${JSON.stringify(report.capture, null, 2)}\n`)
      console.log(
        `sanitised capture written to ${resolve(command.out)} (names and free text redacted, ids kept)`,
      )
      console.log(
        'before adding it to test/fixtures/flex/, record its provenance (tenant, Flex version, date, element) in test/fixtures/flex/README.md',
      )
    }
    return exitCodeOf(report)
  } finally {
    await database?.close()
    await source?.stop?.()
  }
}

try {
  process.exitCode = await main()
} catch (error) {
  const message = error instanceof Error ? error.message : String(error)
  console.error(error instanceof UsageError ? `${message}\n${USAGE}` : message)
  process.exitCode = error instanceof UsageError || error instanceof ConfigError ? 2 : 1
}
