/** A crew line as the fake stores it; how it goes on the wire depends on the ResponseShape. */
export interface FakeLine {
  id: string
  resourceId: string
  businessRoleId: string | null
}

/** A row of any other kind (equipment, labor, ...) or of a shape nobody has seen, listed exactly as given. */
export type OtherRow = Record<string, unknown>

interface FakeElement {
  lines: FakeLine[]
  otherRows: OtherRow[]
}

/**
 * Flex's data as far as crew lines go: elements holding lines, with line ids unique across elements.
 * Every element exists (an unknown one is empty), and the same resource may be booked twice on one
 * element, as in Flex: that duplicate is what the reconciler must never create.
 */
export class FakeFlexState {
  private elements = new Map<string, FakeElement>()
  private nextLineId = 1001

  /** 'uuid' (real Flex's ids, the default) or 'numeric' (all digits, e.g. to send them as numbers). */
  constructor(private readonly lineIds: 'uuid' | 'numeric' = 'uuid') {}

  lines(elementId: string): FakeLine[] {
    return (this.elements.get(elementId)?.lines ?? []).map((line) => ({ ...line }))
  }

  otherRows(elementId: string): OtherRow[] {
    return [...(this.elements.get(elementId)?.otherRows ?? [])]
  }

  addLine(elementId: string, resourceId: string, businessRoleId: string | null = null): FakeLine {
    const n = this.nextLineId++
    const id =
      this.lineIds === 'numeric' ? String(n) : `0000f1e0-0000-4000-8000-${String(n).padStart(12, '0')}`
    const line = { id, resourceId, businessRoleId }
    this.element(elementId).lines.push(line)
    return { ...line }
  }

  addOtherRow(elementId: string, row: OtherRow): void {
    this.element(elementId).otherRows.push(row)
  }

  /** The line with this id on this element, for changing it in place. */
  findLine(elementId: string, lineId: string): FakeLine | undefined {
    return this.elements.get(elementId)?.lines.find((line) => line.id === lineId)
  }

  /** Removes the line wherever it is; false when no element holds it. */
  removeLine(lineId: string): boolean {
    for (const element of this.elements.values()) {
      const index = element.lines.findIndex((line) => line.id === lineId)
      if (index >= 0) {
        element.lines.splice(index, 1)
        return true
      }
    }
    return false
  }

  /** Forgets every element; line ids keep rising, so no id is ever reused by one fake. */
  clear(): void {
    this.elements.clear()
  }

  private element(elementId: string): FakeElement {
    let element = this.elements.get(elementId)
    if (!element) {
      element = { lines: [], otherRows: [] }
      this.elements.set(elementId, element)
    }
    return element
  }
}
