/**
 * One timer per distinct interval, fanning out to its subscribers: 10,000 sockets on the
 * default period cost one timer and one serialisation per tick, not 10,000.
 */
export class IntervalGroups<T> {
  readonly #groups = new Map<number, { timer: NodeJS.Timeout, members: Set<T> }>()

  constructor (readonly tick: (members: ReadonlySet<T>, intervalMs: number) => void) {}

  add (intervalMs: number, member: T): void {
    let group = this.#groups.get(intervalMs)
    if (group === undefined) {
      const members = new Set<T>()
      const timer = setInterval(() => this.tick(members, intervalMs), intervalMs)
      group = { timer, members }
      this.#groups.set(intervalMs, group)
    }
    group.members.add(member)
  }

  delete (intervalMs: number, member: T): void {
    const group = this.#groups.get(intervalMs)
    if (group === undefined || !group.members.delete(member)) return
    if (group.members.size === 0) {
      clearInterval(group.timer)
      this.#groups.delete(intervalMs)
    }
  }

  /** number of live timers (one per interval in use) */
  get timers (): number {
    return this.#groups.size
  }

  clear (): void {
    for (const group of this.#groups.values()) clearInterval(group.timer)
    this.#groups.clear()
  }
}
