/**
 * npm run sdk: regenerates the TypeScript SDK in sdk/ from the OpenAPI document the server serves.
 *
 * 1. Installs sdk/'s own dependencies when missing (openapi-typescript needs TypeScript 5's compiler
 *    API, the root project compiles with TypeScript 7, so the generator lives in sdk/package.json).
 * 2. Builds the app in-process and asks it for GET /openapi.json. No database is needed: the pool
 *    connects on its first query and generating the document runs none.
 * 3. Lints the document with Redocly's recommended rules (sdk/redocly.yaml); errors fail the command
 *    and nothing is written, warnings are printed.
 * 4. Writes sdk/openapi.json (the contract) and sdk/src/schema.d.ts (openapi-typescript's types, headed
 *    by the sha256 of that document). Both are committed; test/e2e/sdk.test.ts fails when they are stale.
 * 5. Builds the package in sdk/dist (ESM and .d.ts, `npm --prefix sdk run build`; not committed).
 *
 * `npm run sdk -- --check` writes nothing and exits 1 when either committed file differs from what would
 * be generated now.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import {
  DOCUMENT_FILE,
  ensureSdkDependencies,
  formatDocument,
  OPENAPI_TYPESCRIPT,
  REDOCLY,
  ROOT,
  SCHEMA_FILE,
  SDK_DIR,
  schemaHeader,
} from './sdk-document.ts'
import { servedDocument } from './served-document.ts'

const check = process.argv.includes('--check')

function run(command: string, args: string[], { cwd = ROOT, env = {} } = {}): void {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit', env: { ...process.env, ...env } })
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.error ?? `exit ${result.status}`})`)
}

async function main(): Promise<void> {
  ensureSdkDependencies()

  const documentText = formatDocument(await servedDocument())
  const work = await mkdtemp(join(tmpdir(), 'rostersync-sdk-'))
  try {
    const document = join(work, 'openapi.json')
    const schema = join(work, 'schema.d.ts')
    await writeFile(document, documentText)
    run(REDOCLY, ['lint', 'openapi.json', '--config', join(SDK_DIR, 'redocly.yaml'), '--format=summary'], {
      cwd: work,
      env: { REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' },
    })
    run(OPENAPI_TYPESCRIPT, [document, '--output', schema])
    const schemaText = schemaHeader(documentText) + (await readFile(schema, 'utf8'))

    if (check) {
      const outputs: [file: string, text: string][] = [
        [DOCUMENT_FILE, documentText],
        [SCHEMA_FILE, schemaText],
      ]
      const stale = outputs.filter(([file, text]) => !existsSync(file) || readFileSync(file, 'utf8') !== text)
      for (const [file] of stale) console.error(`stale: ${relative(ROOT, file)} (run npm run sdk)`)
      if (stale.length > 0) process.exitCode = 1
      else console.log('sdk/openapi.json and sdk/src/schema.d.ts are up to date')
    } else {
      await writeFile(DOCUMENT_FILE, documentText)
      await writeFile(SCHEMA_FILE, schemaText)
      console.log('wrote sdk/openapi.json and sdk/src/schema.d.ts')
      run('npm', ['--prefix', SDK_DIR, 'run', '--silent', 'build'])
      console.log('built sdk/dist (ESM and .d.ts)')
    }
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

main().catch((error: unknown) => {
  console.error(`npm run sdk: ${error instanceof Error ? error.message : error}`)
  process.exit(1)
})
