import { spawn, spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'
import { startEmbeddedPostgres } from '../../src/db/embedded-postgres.ts'
import { migrate } from '../../src/db/migrate.ts'
import {
  type DiagnoseInput,
  diagnose,
  exitCodeOf,
  formatReport,
  sanitizeCapture,
} from '../../src/flex/flex-doctor.ts'
import { build } from '../helpers/build-app.ts'
import { startFakeFlex } from '../helpers/fake-flex.ts'

const TOKEN = 'tok-doctor-0f9e'
const fake = await startFakeFlex({ token: TOKEN })
t.teardown(() => fake.close())
t.beforeEach(() => fake.reset())

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const ELEMENT = 'el-doctor'
const TECH_RESOURCE = '3f2b8c1e-5a4d-4e6f-9b7a-1c2d3e4f5a6b'
const OTHER_RESOURCE = '9a8b7c6d-1e2f-4a3b-8c5d-6e7f8a9b0c1d'
const ROLE = 'b1c2d3e4-f5a6-4b7c-8d9e-0f1a2b3c4d5e'

/** An answer as a tenant might send it: crew lines with names and notes, equipment, a container. */
const cleanAnswer = [
  {
    id: 'line-1',
    managedResourceLineItemType: 'contact',
    resourceId: TECH_RESOURCE,
    businessRoleId: ROLE,
    name: 'Alice Example',
    note: 'arrives late, call +1 555 0100',
    quantity: 1,
  },
  {
    id: 'line-2',
    managedResourceLineItemType: 'contact',
    contact: { data: { id: OTHER_RESOURCE, name: 'Bob Outsider' } },
    'business-role': { fieldType: 'business-role', data: 'Sound Engineer' },
  },
  { id: 7, type: 'equipment', name: 'Mixing desk', serial: 'SN-12345' },
  {
    id: 'group-1',
    name: 'Stage crew',
    leaf: false,
    children: [{ id: 8, type: 'labor', description: 'Load-in help', active: true, rate: null }],
  },
]

const unclassifiableRow = { id: 'line-9', note: 'Call Jane on 555-0199', contact: { name: 'Jane Secret' } }

function input(overrides: Partial<DiagnoseInput> = {}): DiagnoseInput {
  return {
    flex: { baseUrl: fake.url, authToken: TOKEN, timeoutMs: 2_000 },
    elementId: ELEMENT,
    ...overrides,
  }
}

const withTechnician: Partial<DiagnoseInput> = {
  knownTechnicians: async (ids) => new Map(ids.includes(TECH_RESOURCE) ? [[TECH_RESOURCE, 'tech-1']] : []),
  roleIds: [ROLE],
  budgetUsage: { usedLastHour: 12, usedLastDay: 40, leftThisHour: 1_988, leftToday: 9_960 },
}

/** Every leaf replaced by its type: two values with equal skeletons have the same structure. */
function skeleton(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(skeleton)
  if (typeof value === 'object' && value !== null)
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, skeleton(inner)]))
  return value === null ? 'null' : typeof value
}

t.test('a clean answer: every row classified, exit code 0', async (t) => {
  fake.answer('list', { status: 200, body: cleanAnswer })
  const report = await diagnose(input(withTechnician))
  t.equal(report.outcome, 'read')
  t.equal(exitCodeOf(report), 0)
  if (report.outcome !== 'read') return
  t.match(report.rows, [
    { position: '0', verdict: 'line', lineItemId: 'line-1', technicianId: 'tech-1', role: `role ${ROLE}` },
    {
      position: '1',
      verdict: 'line',
      lineItemId: 'line-2',
      resourceId: OTHER_RESOURCE,
      technicianId: undefined,
    },
    { position: '2', verdict: 'skipped', reason: 'kind equipment' },
    { position: '3', verdict: 'skipped', reason: 'container' },
    { position: '3.children.0', verdict: 'skipped', reason: 'kind labor' },
  ])
  const text = formatReport(report)
  t.match(text, `row 0: technician line line-1: resource ${TECH_RESOURCE} = technician tech-1, role ${ROLE}`)
  t.match(text, `row 1: contact line line-2 of an unknown contact: resource ${OTHER_RESOURCE}`)
  t.match(text, 'role not readable')
  t.match(text, '1 technician line(s), 1 unknown contact line(s), 3 skipped, 0 unclassifiable')
  t.match(text, 'budget left: 1988 this hour (12 used), 9960 today (40 used)')
  t.notMatch(text, /UNCLASSIFIABLE/)
})

t.test('without the database: lines are contact lines, budget unknown', async (t) => {
  fake.answer('list', { status: 200, body: cleanAnswer })
  const report = await diagnose(input())
  t.equal(exitCodeOf(report), 0)
  const text = formatReport(report)
  t.match(text, 'row 0: contact line line-1 of an unknown contact')
  t.match(text, '2 contact line(s) (technicians not looked up)')
  t.match(text, 'budget left: unknown')
})

t.test('an unclassifiable row: exit code 1, named by position and fields, never by its values', async (t) => {
  fake.answer('list', { status: 200, body: [cleanAnswer[0], unclassifiableRow] })
  const report = await diagnose(input(withTechnician))
  t.equal(exitCodeOf(report), 1)
  const text = formatReport(report)
  t.match(text, 'row 1: UNCLASSIFIABLE (fields: id, note, contact): no kind field and no resource id')
  t.match(text, '1 unclassifiable')
  t.match(text, 'a sync of this element would stop before acting on it')
  for (const value of ['line-9', 'Call Jane', '555-0199', 'Jane Secret']) t.notMatch(text, value)
})

t.test("an HTML login page: the token is refused, through FlexClient's own check", async (t) => {
  fake.answer('list', {
    status: 200,
    body: '<!DOCTYPE html><html><body><form action="/login">Sign in</form></body></html>',
    headers: { 'content-type': 'text/html; charset=utf-8' },
  })
  const report = await diagnose(input())
  t.equal(report.outcome, 'token-refused')
  t.equal(exitCodeOf(report), 1)
  const text = formatReport(report)
  t.match(text, /token refused: .*HTML page.*check FLEX_AUTH_TOKEN/)
  t.notMatch(text, 'Sign in')
})

t.test('a wrong token (401) is refused; a 500 fails without a retry', async (t) => {
  const refused = await diagnose(input({ flex: { baseUrl: fake.url, authToken: 'wrong', timeoutMs: 2_000 } }))
  t.equal(refused.outcome, 'token-refused')
  t.match(formatReport(refused), 'token refused: ')
  fake.fail('list', { status: 500, times: 3 })
  const failed = await diagnose(input())
  t.equal(failed.outcome, 'failed')
  t.equal(exitCodeOf(failed), 1)
  t.match(formatReport(failed), 'Flex list failed (http)')
  t.equal(fake.calls.length, 2, 'one call each: the doctor never retries')
})

t.test('the doctor makes exactly one call, a GET list', async (t) => {
  fake.addLineByHand(ELEMENT, TECH_RESOURCE, ROLE)
  const report = await diagnose(input(withTechnician))
  t.equal(exitCodeOf(report), 0)
  t.same(
    fake.calls.map((call) => [call.method, call.endpoint, call.status]),
    [['GET', 'list', 200]],
  )
  t.same(report.calls, [{ method: 'GET', path: `/f5/api/line-item/${ELEMENT}/row-data/`, status: 200 }])
  t.match(formatReport(report), `1 call(s): GET /f5/api/line-item/${ELEMENT}/row-data/ -> 200`)
})

t.test('the capture: names and notes gone, ids and UUIDs kept, structure identical', async (t) => {
  const answer = [
    ...cleanAnswer,
    unclassifiableRow,
    {
      id: 12,
      type: 'note',
      text: `see ${OTHER_RESOURCE}`,
      ref: ROLE,
      parentId: 'p-1',
      linkedIds: ['a', 'b'],
    },
    { id: 13, managedResourceLineItemType: 'contact', contact: '4242', resourceParentId: '' },
  ]
  fake.answer('list', { status: 200, body: answer })
  const report = await diagnose(input(withTechnician))
  if (report.outcome !== 'read') throw new Error(`expected a read, got ${report.outcome}`)
  const capture = report.capture
  t.same(skeleton(capture), skeleton(answer), 'same keys, lengths and value types everywhere')
  const text = JSON.stringify(capture)
  const secrets = [
    'Alice',
    '555',
    'Bob',
    'Sound Engineer',
    'Mixing desk',
    'SN-12345',
    'Stage crew',
    'Load-in',
  ]
  for (const secret of [...secrets, 'Jane', `see ${OTHER_RESOURCE}`]) t.notMatch(text, secret)
  t.same(capture, sanitizeCapture(answer), 'the capture is the sanitised answer itself')
  t.match(capture, [
    { id: 'line-1', resourceId: TECH_RESOURCE, businessRoleId: ROLE, name: '<redacted>', quantity: 1 },
    {
      contact: { data: { id: OTHER_RESOURCE, name: '<redacted>' } },
      'business-role': { fieldType: '<redacted>', data: '<redacted>' },
    },
    { id: 7, type: 'equipment', serial: '<redacted>' },
    { id: 'group-1', leaf: false, children: [{ id: 8, type: 'labor', active: true, rate: null }] },
    { id: 'line-9', note: '<redacted>', contact: { name: '<redacted>' } },
    { text: '<redacted>', ref: ROLE, parentId: 'p-1', linkedIds: ['a', 'b'] },
    { contact: '4242', resourceParentId: '' },
  ])

  // Replayed as a recorded answer, the capture is classified exactly as the original was.
  fake.answer('list', { status: 200, body: capture })
  const replay = await diagnose(input(withTechnician))
  t.same(replay.outcome === 'read' && replay.rows, report.rows)
})

/** Runs the real script (node --import tsx, as npm run flex:doctor does) with only `env` and PATH. */
function runDoctor(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/flex-doctor.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk))
    child.stderr.on('data', (chunk: Buffer) => (output += chunk))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    child.once('error', reject)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    })
  })
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'flex-doctor-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('the script, without DATABASE_URL: reports, writes the capture, exit code 0', async (t) => {
  const dir = await tempDir(t)
  fake.answer('list', { status: 200, body: cleanAnswer })
  const out = join(dir, 'capture.json')
  const { code, output } = await runDoctor(['--element', ELEMENT, '--out', out], {
    FLEX_BASE_URL: fake.url,
    FLEX_AUTH_TOKEN: TOKEN,
    EMBEDDED_PG_DATA_DIR: join(dir, 'never-started'),
  })
  t.equal(code, 0, 'exit code 0', { output })
  t.match(output, 'no database: neither DATABASE_URL nor an embedded PostgreSQL in')
  t.match(output, 'rows are classified without knowing which resources are technicians')
  t.match(output, `sanitised capture written to ${out}`)
  t.match(output, 'test/fixtures/flex/README.md')
  t.same(JSON.parse(await readFile(out, 'utf8')), sanitizeCapture(cleanAnswer))
  t.same(
    fake.calls.map((call) => call.method),
    ['GET'],
  )
})

t.test('the script: an unclassifiable row exits 1, missing settings exit 2', async (t) => {
  const dir = await tempDir(t)
  fake.answer('list', { status: 200, body: [unclassifiableRow] })
  const out = join(dir, 'capture.json')
  const env = { FLEX_BASE_URL: fake.url, FLEX_AUTH_TOKEN: TOKEN }
  const unclassifiable = await runDoctor(['--element', ELEMENT, '--out', out], env)
  t.equal(unclassifiable.code, 1, 'exit code 1', { output: unclassifiable.output })
  t.notMatch(unclassifiable.output, 'Jane Secret')
  t.ok(JSON.parse(await readFile(out, 'utf8')), 'the capture is written all the same')
  const unset = await runDoctor(['--element', ELEMENT], { FLEX_AUTH_TOKEN: TOKEN })
  t.equal(unset.code, 2, 'exit code 2', { output: unset.output })
  t.match(unset.output, 'FLEX_BASE_URL and FLEX_AUTH_TOKEN must both be set')
  const noElement = await runDoctor([], env)
  t.equal(noElement.code, 2, 'exit code 2', { output: noElement.output })
  t.match(noElement.output, '--element <flexElementId> is required')
  t.equal(fake.calls.length, 1, 'only the first run reached Flex')
})

t.test('the script, with DATABASE_URL: known technicians and the budget left', async (t) => {
  const { app, databaseUrl } = await build(t)
  const put = await app.inject({
    method: 'PUT',
    url: '/v1/technicians/tech-7',
    payload: { name: 'Tess Tech', flexResourceId: TECH_RESOURCE },
  })
  t.ok(put.statusCode < 300, put.body)
  const dir = await tempDir(t)
  const lineId = fake.addLineByHand(ELEMENT, TECH_RESOURCE, ROLE)
  const { code, output } = await runDoctor(['--element', ELEMENT, '--out', join(dir, 'capture.json')], {
    FLEX_BASE_URL: fake.url,
    FLEX_AUTH_TOKEN: TOKEN,
    DATABASE_URL: databaseUrl,
    FLEX_CALLS_PER_HOUR: '20',
  })
  t.equal(code, 0, 'exit code 0', { output })
  t.match(output, `technician line ${lineId}: resource ${TECH_RESOURCE} = technician tech-7, role ${ROLE}`)
  t.match(output, 'budget left: 20 this hour (0 used)')
  t.notMatch(output, 'no database')
  t.match(output, 'database: DATABASE_URL')
})

t.test('the script finds the embedded database the service uses, running or not', async (t) => {
  const dir = await tempDir(t)
  await chmod(dir, 0o755) // as root, PostgreSQL runs as the postgres user and must reach its data
  const dataDir = join(dir, 'postgres')
  const cluster = await startEmbeddedPostgres({ dataDir, durable: false })
  let running = true
  t.teardown(() => (running ? cluster.stop() : undefined))
  await migrate(cluster.url)
  const { app } = await build(t, { databaseUrl: cluster.url })
  const put = await app.inject({
    method: 'PUT',
    url: '/v1/technicians/tech-8',
    payload: { name: 'Emb Edded', flexResourceId: TECH_RESOURCE },
  })
  t.ok(put.statusCode < 300, put.body)
  await app.close()
  const lineId = fake.addLineByHand(ELEMENT, TECH_RESOURCE, ROLE)
  const env = { FLEX_BASE_URL: fake.url, FLEX_AUTH_TOKEN: TOKEN, EMBEDDED_PG_DATA_DIR: dataDir }
  const out = join(dir, 'capture.json')
  const whileRunning = await runDoctor(['--element', ELEMENT, '--out', out], env)
  t.equal(whileRunning.code, 0, 'exit code 0', { output: whileRunning.output })
  t.match(whileRunning.output, `database: the embedded PostgreSQL running in ${dataDir}`)
  t.match(whileRunning.output, `resource ${TECH_RESOURCE} = technician tech-8`)
  t.match(whileRunning.output, 'budget left:')

  await cluster.stop()
  running = false
  const stopped = await runDoctor(['--element', ELEMENT, '--out', out], env)
  t.equal(stopped.code, 0, 'exit code 0', { output: stopped.output })
  t.match(
    stopped.output,
    `database: the embedded PostgreSQL in ${dataDir} (started for this check, stopped after)`,
  )
  t.match(stopped.output, `technician line ${lineId}: resource ${TECH_RESOURCE} = technician tech-8`)
  t.notOk(existsSync(join(dataDir, 'postmaster.pid')), 'the cluster it started is stopped again')
})

t.test('the script writes its capture under .data/ by default (ignored by git) and says where', async (t) => {
  const element = `el-default-${process.pid}`
  const expected = join(ROOT, '.data', `flex-capture-${element}.json`)
  t.teardown(() => rm(expected, { force: true }))
  const dir = await tempDir(t)
  fake.answer('list', { status: 200, body: cleanAnswer })
  const { code, output } = await runDoctor(['--element', element], {
    FLEX_BASE_URL: fake.url,
    FLEX_AUTH_TOKEN: TOKEN,
    EMBEDDED_PG_DATA_DIR: join(dir, 'never-started'),
  })
  t.equal(code, 0, 'exit code 0', { output })
  t.match(output, `sanitised capture written to ${expected}`)
  t.same(JSON.parse(await readFile(expected, 'utf8')), sanitizeCapture(cleanAnswer))
  const ignored = spawnSync('git', ['check-ignore', '-q', expected], { cwd: ROOT })
  t.equal(ignored.status, 0, 'git ignores it')
})
