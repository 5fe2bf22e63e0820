import { Writable } from 'node:stream'

export interface LogLine {
  level: number
  msg?: string
  reqId?: string
  err?: { message?: string }
  [key: string]: unknown
}

/** A pino destination that keeps every JSON line written to it, parsed. */
export function captureLog(): { stream: Writable; lines: LogLine[] } {
  const lines: LogLine[] = []
  let pending = ''
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      const parts = (pending + chunk.toString('utf8')).split('\n')
      pending = parts.pop() ?? ''
      for (const part of parts) if (part) lines.push(JSON.parse(part) as LogLine)
      done()
    },
  })
  return { stream, lines }
}
