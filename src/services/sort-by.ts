/** Code-unit order by a string key: the same on every server, whatever the database's collation. */
export function sortBy<T>(items: T[], key: (item: T) => string): T[] {
  return items.sort((a, b) => {
    const ka = key(a)
    const kb = key(b)
    return ka < kb ? -1 : ka > kb ? 1 : 0
  })
}
