import { mkdir, mkdtemp, readFile, rm, utimes, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import t from 'tap'
import { buildIfChanged, STAMP_FILE } from '../../scripts/build-if-changed.ts'

/** A project tree as npm start sees it, with a dist/ already built. */
async function project(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'build-if-changed-'))
  t.teardown(() => rm(root, { recursive: true, force: true }))
  const files = [
    'src/server.ts',
    'src/generated/prisma/client.ts',
    'prisma/schema.prisma',
    'prisma/functions/f.sql',
    'console/src/main.ts',
    'package.json',
    'package-lock.json',
    'dist/src/server.js',
  ]
  for (const file of files) {
    await mkdir(dirname(join(root, file)), { recursive: true })
    await writeFile(join(root, file), `// ${file}\n`)
  }
  return root
}

/** Sets a file's modification time `seconds` from now, as an edit (or a checkout) does. */
const touch = (root: string, file: string, seconds: number) => {
  const at = new Date(Date.now() + seconds * 1000)
  return utimes(join(root, file), at, at)
}

t.test('npm start builds once, then only when a source changed', async (t) => {
  const root = await project(t)
  let builds = 0
  const build = () => {
    builds++
  }
  t.equal(await buildIfChanged(root, build), 'built', 'no stamp yet: a build')
  t.ok((await readFile(join(root, STAMP_FILE), 'utf8')).trim(), 'the stamp is written')
  t.equal(await buildIfChanged(root, build), 'up-to-date', 'nothing changed: no build')
  t.equal(builds, 1)

  await touch(root, 'dist/src/server.js', 10)
  await touch(root, 'src/generated/prisma/client.ts', 10)
  t.equal(await buildIfChanged(root, build), 'up-to-date', 'what the build writes is not a source')

  for (const [i, file] of [
    'src/server.ts',
    'prisma/functions/f.sql',
    'console/src/main.ts',
    'package.json',
  ].entries()) {
    await touch(root, file, 20 + i)
    t.equal(await buildIfChanged(root, build), 'built', `${file} changed: a build`)
    t.equal(await buildIfChanged(root, build), 'up-to-date', `then ${file} is built`)
  }
  await writeFile(join(root, 'src/new-file.ts'), 'export {}\n')
  t.equal(await buildIfChanged(root, build), 'built', 'a new source file: a build')
  await rm(join(root, 'dist/src/server.js'))
  t.equal(await buildIfChanged(root, build), 'built', 'no built server: a build')
  t.equal(builds, 7)
})

t.test('a failed build writes no stamp, so the next start builds again', async (t) => {
  const root = await project(t)
  await t.rejects(
    buildIfChanged(root, () => {
      throw new Error('tsc failed')
    }),
    /tsc failed/,
  )
  let built = false
  t.equal(
    await buildIfChanged(root, () => {
      built = true
    }),
    'built',
  )
  t.ok(built)
})
