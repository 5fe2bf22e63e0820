/**
 * npm run build:console (part of npm run build): bundles the operator console (console/) into
 * dist/console: index.html, and app-<hash>.js and styles-<hash>.css whose names change with their
 * content, so src/plugins/console.ts can let browsers cache them for good. Nothing is fetched from
 * outside at run time: the SDK and openapi-fetch are bundled in.
 */
import { createHash } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const SOURCE = join(ROOT, 'console')
export const CONSOLE_OUT_DIR = join(ROOT, 'dist', 'console')

const hashed = (name: string, ext: string, content: string | Uint8Array) =>
  `${name}-${createHash('sha256').update(content).digest('hex').slice(0, 12)}.${ext}`

/** Builds the console into `outDir` (replaced whole, written beside it first) and returns its files. */
export async function buildConsole(outDir = CONSOLE_OUT_DIR): Promise<string[]> {
  const bundle = await build({
    entryPoints: [join(SOURCE, 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    legalComments: 'none',
    logLevel: 'warning',
  })
  const script = bundle.outputFiles[0]?.text
  if (script === undefined) throw new Error('esbuild produced no bundle')
  const styles = await readFile(join(SOURCE, 'styles.css'), 'utf8')
  const scriptName = hashed('app', 'js', script)
  const stylesName = hashed('styles', 'css', styles)
  const index = (await readFile(join(SOURCE, 'index.html'), 'utf8'))
    .replace('./SCRIPT', `./${scriptName}`)
    .replace('./STYLES', `./${stylesName}`)
  const staging = `${outDir}.staging-${process.pid}`
  await rm(staging, { recursive: true, force: true })
  await mkdir(staging, { recursive: true })
  await writeFile(join(staging, scriptName), script)
  await writeFile(join(staging, stylesName), styles)
  await writeFile(join(staging, 'index.html'), index)
  await rm(outDir, { recursive: true, force: true })
  await mkdir(dirname(outDir), { recursive: true })
  await rename(staging, outDir)
  return ['index.html', scriptName, stylesName]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await buildConsole()
  console.log(`built the console in ${CONSOLE_OUT_DIR}: ${files.join(', ')}`)
}
