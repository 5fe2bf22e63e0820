import { Debug as RuntimeDebug } from '@prisma/client/runtime/client'
import { Debug } from '@prisma/debug'

/** What both copies of Prisma's debug module (@prisma/debug, and the one bundled in the client runtime) expose. */
interface DebugModule {
  enabled: (namespace: string) => boolean
}

const memoized = new WeakSet<object>()

/**
 * Prisma's debug module decides whether a namespace logs on every call of every debug function (several
 * per query: the client engine's and the pg adapter's), by splitting DEBUG and compiling a RegExp per
 * pattern each time: about 2% of the service's CPU under the calendar PUT's load, with DEBUG unset.
 * The answer depends only on the namespace and DEBUG, so it is kept per namespace until DEBUG changes
 * (`Debug.enable()` sets it). Done once per module; each module's `enabled` is settable (its Proxy
 * writes through to the function its debug calls use).
 */
export function memoizePrismaDebugChecks(): void {
  for (const module of [Debug, RuntimeDebug] as unknown as DebugModule[]) {
    if (memoized.has(module)) continue
    memoized.add(module)
    module.enabled = memoize(module.enabled)
  }
}

function memoize(enabled: (namespace: string) => boolean): (namespace: string) => boolean {
  const globals = globalThis as { DEBUG?: string }
  let debug = globals.DEBUG
  const answers = new Map<string, boolean>()
  return (namespace) => {
    if (globals.DEBUG !== debug) {
      debug = globals.DEBUG
      answers.clear()
    }
    let answer = answers.get(namespace)
    if (answer === undefined) {
      answer = enabled(namespace)
      answers.set(namespace, answer)
    }
    return answer
  }
}
