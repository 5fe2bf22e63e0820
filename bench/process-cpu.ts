/**
 * CPU time of the processes a bench runs (the server, PostgreSQL), from /proc: Linux only, and for
 * PostgreSQL only with the server on this machine (embedded, or DATABASE_URL on localhost).
 */
import { readdir, readFile } from 'node:fs/promises'
import pg from 'pg'

/** pid, parent pid and utime + stime in milliseconds (clock ticks of 10 ms) of a process, from /proc. */
export async function processStat(pid: number): Promise<{ ppid: number; cpuMs: number } | undefined> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (!stat) return undefined
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return { ppid: Number(fields[1]), cpuMs: (Number(fields[11]) + Number(fields[12])) * 10 }
}

/** The CPU time of the postmaster and of every process it started, by pid. */
export async function postgresCpu(postmaster: number): Promise<Map<number, number>> {
  const cpu = new Map<number, number>()
  for (const name of await readdir('/proc')) {
    const pid = Number(name)
    if (!Number.isInteger(pid)) continue
    const stat = await processStat(pid)
    if (stat && (pid === postmaster || stat.ppid === postmaster)) cpu.set(pid, stat.cpuMs)
  }
  return cpu
}

/** CPU ms used since `before` by the processes in `after` (one that started since counts from 0). */
export const usedSince = (before: Map<number, number>, after: Map<number, number>) =>
  [...after].reduce((sum, [pid, ms]) => sum + ms - (before.get(pid) ?? 0), 0)

/** The CPU ms this process (the bench: client, receiver) has used so far. */
export function ownCpuMs(): number {
  const usage = process.cpuUsage()
  return (usage.user + usage.system) / 1000
}

/** The postmaster of the database's server: the parent of a backend. */
export async function postmasterOf(databaseUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
    const stat = await processStat(rows[0]?.pid ?? 0)
    if (!stat) throw new Error('the database server is not on this machine: no CPU account')
    return stat.ppid
  } finally {
    await client.end()
  }
}
