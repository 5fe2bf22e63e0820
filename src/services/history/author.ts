/** Who makes a write, recorded in the history of the set or roster it changes. */
export interface Author {
  /** The credential: `service:<key name>` or `user:<sub>` (principalName). */
  actor: string
  requestId: string
}
