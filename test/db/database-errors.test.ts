import t from 'tap'
import { toDomainError } from '../../src/db/database-errors.ts'

/** Every shape in which a lost or busy database reaches a service becomes a 503, never a 500. */

const unavailable: [string, unknown][] = [
  [
    'P1017 server closed the connection',
    Object.assign(new Error('Server has closed the connection.'), { code: 'P1017' }),
  ],
  ['P1001 database unreachable', Object.assign(new Error("Can't reach database server"), { code: 'P1001' })],
  ['P2024 pool timeout', Object.assign(new Error('Timed out fetching a new connection'), { code: 'P2024' })],
  [
    'P2037 too many connections',
    Object.assign(new Error('Too many database connections'), { code: 'P2037' }),
  ],
  [
    'DriverAdapterError ConnectionClosed',
    Object.assign(new Error('ConnectionClosed'), {
      name: 'DriverAdapterError',
      cause: { kind: 'ConnectionClosed' },
    }),
  ],
  [
    'P2010 with an adapter SocketTimeout',
    Object.assign(new Error('Raw query failed'), {
      code: 'P2010',
      meta: { driverAdapterError: { cause: { kind: 'SocketTimeout' } } },
    }),
  ],
  [
    'DriverAdapterError TransactionAlreadyClosed',
    Object.assign(new Error('Transaction already closed'), { cause: { kind: 'TransactionAlreadyClosed' } }),
  ],
  [
    '57P01 terminated by an administrator',
    Object.assign(new Error('terminating connection'), { code: '57P01' }),
  ],
  ['08006 connection failure', Object.assign(new Error('connection failure'), { code: '08006' })],
  ['pg: Connection terminated unexpectedly', new Error('Connection terminated unexpectedly')],
  ['a closed connection, message only', new Error('Server has closed the connection.')],
]

for (const [name, error] of unavailable) {
  t.test(name, async (t) => {
    t.match(toDomainError(error), { kind: 'service-unavailable' })
  })
}

t.test('a unique violation is a conflict; a bug stays a bug', async (t) => {
  t.match(toDomainError(Object.assign(new Error('dup'), { code: 'P2002' })), { kind: 'conflict' })
  t.equal(toDomainError(new TypeError('x is undefined')), undefined)
  t.equal(toDomainError(Object.assign(new Error('syntax'), { code: '42601' })), undefined)
})
