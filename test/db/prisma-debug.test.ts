import { Debug as RuntimeDebug } from '@prisma/client/runtime/client'
import { Debug } from '@prisma/debug'
import t from 'tap'
import { memoizePrismaDebugChecks } from '../../src/db/prisma-debug.ts'

// Prisma's debug checks are memoized per namespace (src/db/prisma-debug.ts): DEBUG must still turn
// its logging on and off, in both copies of the module, after the first answers were kept.

t.test('memoized debug checks follow DEBUG as it changes', async (t) => {
  const saved = (globalThis as { DEBUG?: string }).DEBUG
  t.teardown(() => {
    ;(globalThis as { DEBUG?: string }).DEBUG = saved
  })
  memoizePrismaDebugChecks()
  memoizePrismaDebugChecks() // twice is once
  const adapter = 'prisma:driver-adapter:pg'
  const client = 'prisma:client:clientEngine'
  const cases: [string, boolean, boolean][] = [
    ['', false, false],
    ['prisma:driver-adapter:*', true, false],
    ['prisma:*', true, true],
    ['prisma:*,-prisma:driver-adapter:*', false, true],
    ['', false, false],
  ]
  for (const [debug, adapterOn, clientOn] of cases) {
    Debug.enable(debug)
    t.equal(Debug.enabled(adapter), adapterOn, `DEBUG=${debug}: ${adapter}`)
    t.equal(RuntimeDebug.enabled(client), clientOn, `DEBUG=${debug}: ${client}`)
    t.equal(Debug.enabled(adapter), adapterOn, 'asked again: the kept answer')
  }
  const lines: unknown[][] = []
  const log = Debug.log
  Debug.log = (...args: unknown[]) => lines.push(args)
  t.teardown(() => {
    Debug.log = log
  })
  const debug = Debug('prisma:driver-adapter:test')
  debug('quiet')
  Debug.enable('prisma:driver-adapter:*')
  debug('heard')
  t.equal(lines.length, 1, 'a debug function logs once DEBUG names it')
})
