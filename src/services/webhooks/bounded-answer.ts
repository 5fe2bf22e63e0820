import type { IncomingMessage } from 'node:http'

/** How much of a receiver's answer is read: enough for an error message; the rest is discarded. */
const MAX_ANSWER_BYTES = 4096

/**
 * Reads at most `maxBytes` of an answer's body while it streams, then stops reading and closes the
 * connection: a receiver answering gigabytes costs us a few KB.
 */
export function readBoundedAnswer(answer: IncomingMessage, maxBytes = MAX_ANSWER_BYTES): Promise<string> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = () => {
      answer.removeAllListeners('data')
      resolve(Buffer.concat(chunks).subarray(0, maxBytes).toString('utf8'))
    }
    answer.on('data', (chunk: Buffer) => {
      chunks.push(chunk)
      size += chunk.length
      if (size >= maxBytes) {
        done()
        answer.destroy()
      }
    })
    answer.once('end', done)
    answer.once('error', done)
    answer.once('close', done)
  })
}
