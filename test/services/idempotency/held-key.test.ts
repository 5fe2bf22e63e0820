import t from 'tap'
import type { Tx } from '../../../src/db/transaction.ts'
import { HeldKey, ResponseNotKeptError } from '../../../src/services/idempotency/held-key.ts'
import type { IdempotencyKeyStore, StoredResponse } from '../../../src/services/idempotency/key-store.ts'

/** The held key's state machine, with a store that records what it was asked to store. */
function heldKey(responseWaitMs = 1_000) {
  const stored: StoredResponse[] = []
  const store = {
    complete: async (_hold: unknown, response: StoredResponse) => {
      stored.push(response)
      return true
    },
  } as unknown as IdempotencyKeyStore
  return { held: new HeldKey(store, { scope: 's', key: 'k', owner: 'o' }, responseWaitMs), stored }
}
const tx = {} as Tx
const response: StoredResponse = { status: 200, headers: {}, body: null }

t.test('a transaction joins once; the response it waits for is stored in it', async (t) => {
  const { held, stored } = heldKey()
  t.ok(held.reserve())
  t.notOk(held.reserve(), 'a second transaction of the request does not join')
  const commit = held.beforeCommit(tx)
  held.joined(commit)
  t.ok(held.inTransaction)
  await held.settle(response)
  t.same(stored, [response])
})

t.test('a response that is not kept rolls the transaction back', async (t) => {
  const { held, stored } = heldKey()
  held.reserve()
  const commit = held.beforeCommit(tx)
  held.joined(commit)
  await t.rejects(held.settle(undefined), ResponseNotKeptError)
  t.same(stored, [])
})

t.test('the wait for the response is bounded: no response in time rolls back', async (t) => {
  const { held, stored } = heldKey(50)
  held.reserve()
  await t.rejects(held.beforeCommit(tx), {
    name: 'ResponseNotKeptError',
    message: /no response within 50 ms/,
  })
  t.same(stored, [])
})

t.test(
  'a failed transaction frees the key for the next one; close() makes a later one roll back',
  async (t) => {
    const { held } = heldKey()
    held.reserve()
    held.declined()
    t.ok(held.reserve(), 'free again after the work failed')
    held.declined()
    held.close()
    t.notOk(held.reserve(), 'closed: no transaction joins after the answer')
  },
)
