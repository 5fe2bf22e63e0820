import { spawn } from 'node:child_process'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()))
    })
  })

t.test('npm run demo seeds, syncs with the fake Flex and prints what to look at', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'demo-'))
  await chmod(dir, 0o755) // as root, PostgreSQL runs as the postgres user and must reach its data
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const port = await freePort()
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH, PORT: String(port), DEMO_DATA_DIR: dir },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk))
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  const deadline = Date.now() + 90_000
  while (!output.includes('Ctrl-C stops the demo') && child.exitCode === null && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 200))
  t.match(output, 'Ctrl-C stops the demo', 'the demo is up and says how to stop it', { output })
  const origin = `http://127.0.0.1:${port}`
  t.match(output, `rostersync demo: running on ${origin}`)
  t.match(
    output,
    /sync run [0-9a-f-]{36}: succeeded, 3 crew lines added in Flex, roles set for tech-ana, tech-ben/,
  )
  t.match(output, 'note: technician tech-cy, role SND-ST-T: no business role set on the new line')
  t.match(output, `the console     ${origin}/console/#/crew-calls/demo-job/sound`)
  t.match(output, `${origin}/v1/sync-runs?jobId=demo-job`)
  t.match(output, `${origin}/v1/jobs/demo-job/crew-calls/sound/assignments/history`)

  // What it prints is there: the key it names opens the run and the history; the console is served.
  const key = /Bearer \$\(cat ([^)]+)\)/.exec(output)?.[1]
  t.ok(key, 'it names the key file')
  const { readFile } = await import('node:fs/promises')
  const authorization = `Bearer ${(await readFile(key as string, 'utf8')).trim()}`
  const runs = (await (
    await fetch(`${origin}/v1/sync-runs?jobId=demo-job`, { headers: { authorization } })
  ).json()) as {
    runs: { status: string; added: string[] }[]
  }
  t.match(runs.runs[0], { status: 'succeeded', added: ['tech-ana', 'tech-ben', 'tech-cy'] })
  const history = await fetch(`${origin}/v1/jobs/demo-job/crew-calls/sound/assignments/history`, {
    headers: { authorization },
  })
  t.equal(history.status, 200)
  t.equal((await fetch(`${origin}/console/`)).status, 200, 'the console is built and served')

  child.kill('SIGTERM')
  t.equal(await exited, 0, 'Ctrl-C stops it cleanly')
})
