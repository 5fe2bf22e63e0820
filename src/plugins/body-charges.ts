/** Why a body was not admitted: the whole budget is full, or its credential holds its share already. */
export type BodyRefusal = 'budget' | 'share'

type BodyCharge = { refused: BodyRefusal } | { refused?: undefined; release(): void }

/**
 * The bookkeeping of the body budget: bytes charged in all and per holder (a credential). A charge fits
 * when its holder stays within `shareBytes` and everything charged stays within `budgetBytes`, or when
 * nothing at all is in flight (one body alone always fits: both are at least the body limit). Because
 * the share is less than the budget, one credential's bodies, stalled or not, always leave room for
 * another's.
 */
export class BodyCharges {
  #inFlight = 0
  readonly #byHolder = new Map<string, number>()

  constructor(
    readonly budgetBytes: number,
    readonly shareBytes: number,
  ) {}

  get inFlight(): number {
    return this.#inFlight
  }

  /** Bytes `holder` has in flight. */
  heldBy(holder: string): number {
    return this.#byHolder.get(holder) ?? 0
  }

  /** Charges `bytes` to `holder`, or says why not; `release` gives them back (once, however often called). */
  take(holder: string, bytes: number): BodyCharge {
    const held = this.heldBy(holder)
    if (held + bytes > this.shareBytes) return { refused: 'share' }
    if (this.#inFlight > 0 && this.#inFlight + bytes > this.budgetBytes) return { refused: 'budget' }
    this.#inFlight += bytes
    this.#byHolder.set(holder, held + bytes)
    let released = false
    return {
      release: () => {
        if (released) return
        released = true
        this.#inFlight -= bytes
        const left = this.heldBy(holder) - bytes
        if (left > 0) this.#byHolder.set(holder, left)
        else this.#byHolder.delete(holder)
      },
    }
  }
}
