import type { ServerResponse } from 'node:http'

/** An answer streamed row by row: `bytes` of a row-data list, or without end when undefined. */
export interface StreamedRows {
  /** About how many bytes to send (the list is closed at the first row past it); undefined: never ends. */
  bytes: number | undefined
}

/** A contact row of about 160 bytes, as a listing of a huge element would hold. */
function row(n: number): string {
  return JSON.stringify({
    id: `0000f1e0-0000-4000-9000-${String(n).padStart(12, '0')}`,
    managedResourceLineItemType: 'contact',
    resourceId: `stranger-${n}`,
    businessRoleId: null,
    quantity: 1,
    leaf: true,
    container: false,
  })
}

/**
 * Writes a 200 row-data list to `res` as fast as the client reads it (backpressure respected), until
 * `bytes` are sent or, for an endless one, until the client closes the connection. Resolves with the
 * bytes written.
 */
export async function streamRows(res: ServerResponse, { bytes }: StreamedRows): Promise<number> {
  res.writeHead(200, { 'content-type': 'application/json' })
  let sent = 0
  let n = 0
  const write = (text: string) => {
    sent += Buffer.byteLength(text)
    return res.write(text)
  }
  write('[')
  while (!res.destroyed && (bytes === undefined || sent < bytes)) {
    // 64 rows per write: ~10 KB, so the loop yields to the socket often.
    const batch = Array.from({ length: 64 }, () => row(n++)).join(',')
    const flushed = write(n > 64 ? `,${batch}` : batch)
    if (!flushed) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done)
          res.off('close', done)
          resolve()
        }
        res.on('drain', done)
        res.on('close', done)
      })
    }
  }
  if (!res.destroyed) res.end(']')
  return sent
}
