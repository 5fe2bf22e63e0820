/**
 * npm run flex:doctor -- --element <flexElementId> [--out <file>]: a read-only look at a real Flex
 * element (one list call, never a change) to check the token and how rostersync reads the element's
 * rows, before a sync acts on it. Writes a sanitised copy of Flex's answer for test/fixtures/flex/.
 * Environment: FLEX_BASE_URL and FLEX_AUTH_TOKEN (required), FLEX_TIMEOUT_MS, FLEX_BUSINESS_ROLES;
 * with DATABASE_URL it also knows the technicians and the Flex call budget left.
 * Exit codes: 0 every row classified, 1 a row unclassifiable or the list failed, 2 a usage or
 * configuration error.
 */
import { writeFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { type Config, ConfigError, flexSettings, loadConfig } from '../src/config.ts'
import { createPool } from '../src/db/pool.ts'
import { createPrismaClient, type PrismaClient } from '../src/db/prisma.ts'
import { FlexCallBudget } from '../src/services/sync/flex-call-budget.ts'
import { type DiagnoseInput, diagnose, exitCodeOf, formatReport } from '../src/services/sync/flex-doctor.ts'

const USAGE = `usage: npm run flex:doctor -- --element <flexElementId> [--out <file>]
  --element, -e  the Flex element (crew call) to list, read-only
  --out, -o      where to write the sanitised capture (default flex-capture-<element>.json)
  --help, -h     this text
needs FLEX_BASE_URL and FLEX_AUTH_TOKEN; DATABASE_URL is optional`

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
  return { elementId, out: values.out ?? `flex-capture-${elementId.replace(/[^\w.-]/g, '_')}.json` }
}

/** What the database tells the doctor: the known technicians and the budget; closed by `close`. */
async function openDatabase(config: Config, url: string) {
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
    throw new Error(`cannot read the database (DATABASE_URL): ${(error as Error).message}`, { cause: error })
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
  const database = config.DATABASE_URL ? await openDatabase(config, config.DATABASE_URL) : undefined
  if (!database) {
    console.log(
      'no DATABASE_URL: rows are classified without knowing which resources are technicians; budget unknown',
    )
  }
  try {
    const input: DiagnoseInput = {
      flex: { ...flex, timeoutMs: config.FLEX_TIMEOUT_MS, maxAnswerBytes: config.FLEX_MAX_ANSWER_BYTES },
      elementId: command.elementId,
      roleIds: Object.values(config.FLEX_BUSINESS_ROLES).flatMap((tiers) => Object.values(tiers ?? {})),
      ...(database && { knownTechnicians: database.knownTechnicians, budgetUsage: database.budgetUsage }),
    }
    const report = await diagnose(input)
    console.log(formatReport(report))
    if (report.outcome === 'read' && Array.isArray(report.capture)) {
      await writeFile(command.out, `${JSON.stringify(report.capture, null, 2)}\n`)
      console.log(`sanitised capture written to ${command.out} (names and free text redacted, ids kept)`)
      console.log(
        'before adding it to test/fixtures/flex/, record its provenance (tenant, Flex version, date, element) in test/fixtures/flex/README.md',
      )
    }
    return exitCodeOf(report)
  } finally {
    await database?.close()
  }
}

try {
  process.exitCode = await main()
} catch (error) {
  const message = error instanceof Error ? error.message : String(error)
  console.error(error instanceof UsageError ? `${message}\n${USAGE}` : message)
  process.exitCode = error instanceof UsageError || error instanceof ConfigError ? 2 : 1
}
