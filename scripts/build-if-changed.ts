/**
 * npm start and npm run worker: builds (npm run build) only when a source changed since the last build,
 * then the script runs what is in dist/. The check is cheap: the path, size and modification time of
 * every file that goes into dist/ (src/ but for the generated Prisma client, prisma/, console/, the SDK's
 * sources the console bundles, the package and TypeScript files), hashed into dist/.build-stamp after a
 * build that succeeded. A missing dist/src/server.js or stamp means a build. The stamp is taken before
 * the build, so a file edited while it runs is built the next time.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readdir, readFile, stat, writeFile } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

/** What goes into dist/: folders walked whole (but for EXCLUDED) and single files. */
const INPUTS = [
  'src',
  'prisma',
  'console',
  'sdk/src',
  'scripts/build-console.ts',
  'package.json',
  'package-lock.json',
  'tsconfig.json',
  'tsconfig.build.json',
  'prisma.config.ts',
]
/** Written by the build itself (npm run db:generate). */
const EXCLUDED = new Set(['src/generated'])
export const STAMP_FILE = 'dist/.build-stamp'
const BUILT_ENTRY = 'dist/src/server.js'

/** A hash of the path, size and modification time of every input file under `root`. */
export async function sourceStamp(root: string): Promise<string> {
  const lines: string[] = []
  const visit = async (path: string): Promise<void> => {
    const name = relative(root, path)
    if (EXCLUDED.has(name)) return
    const info = await stat(path).catch(() => undefined)
    if (!info) return
    if (info.isDirectory()) {
      for (const entry of (await readdir(path)).sort()) await visit(join(path, entry))
    } else {
      lines.push(`${name}\t${info.size}\t${info.mtimeMs}`)
    }
  }
  for (const input of INPUTS) await visit(join(root, input))
  return createHash('sha256').update(lines.join('\n')).digest('hex')
}

/** Builds when the sources differ from the last build's stamp; says which it did. */
export async function buildIfChanged(root: string, build: () => void): Promise<'built' | 'up-to-date'> {
  const stamp = await sourceStamp(root)
  const previous = await readFile(join(root, STAMP_FILE), 'utf8').catch(() => '')
  if (previous.trim() === stamp && existsSync(join(root, BUILT_ENTRY))) return 'up-to-date'
  build()
  await writeFile(join(root, STAMP_FILE), `${stamp}\n`)
  return 'built'
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = join(fileURLToPath(new URL('.', import.meta.url)), '..')
  try {
    const outcome = await buildIfChanged(root, () => {
      console.error('sources changed since the last build (or no build yet): npm run build')
      const result = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
      if (result.status !== 0) throw new Error(`npm run build failed (exit code ${result.status})`)
    })
    if (outcome === 'up-to-date')
      console.error('dist/ is up to date with src/, prisma/, console/ and the package files: not rebuilding')
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error))
    process.exitCode = 1
  }
}
