// Per-client connection counts for the caps: open sockets and upgrades under way, per address and per
// authenticated user. The policy (the cap values, how addresses are grouped, the answers) is
// plugins/limits.ts; this is the bookkeeping it and the registry share.

/** Per-client caps: sockets per address (every mode) and per authenticated user. */
export interface Caps {
  perIp: number
  perUser: number
}

/**
 * An upgrade's place in the per-address and per-user counts, taken when the upgrade is checked. Either
 * the socket's registry entry takes it over (`adopt`), or it is given back (`release`): exactly once.
 */
export class Slot {
  held = true
  /** what gives the slot back if the upgrade is abandoned; dropped once the entry takes it over */
  onAbandon: (() => void) | undefined
  constructor (readonly address: string, readonly userId: string | undefined) {}
}

/** How an address is counted: the key its sockets share. */
export type AddressKey = (ip: string) => string

const sameAddress: AddressKey = (ip) => ip

export class SlotCounts {
  readonly #perAddress = new Map<string, number>()
  readonly #perUser = new Map<string, number>()

  constructor (readonly addressKey: AddressKey = sameAddress) {}

  /** Which cap a new socket from `ip` (and `userId`) would pass, or undefined when it fits. */
  overCap (ip: string, userId: string | undefined, caps: Caps): 'ip' | 'user' | undefined {
    if ((this.#perAddress.get(this.addressKey(ip)) ?? 0) >= caps.perIp) return 'ip'
    if (userId !== undefined && (this.#perUser.get(userId) ?? 0) >= caps.perUser) return 'user'
    return undefined
  }

  /**
   * Checks the caps and counts the socket in the same step, so concurrent upgrades cannot all pass
   * the check before any of them is counted. Give the slot to `adopt`, or `release` it.
   */
  claim (ip: string, userId: string | undefined, caps: Caps): Slot | 'ip' | 'user' {
    const over = this.overCap(ip, userId, caps)
    if (over !== undefined) return over
    const address = this.addressKey(ip)
    this.#count(address, userId)
    return new Slot(address, userId)
  }

  /** Gives a slot back; a second call does nothing. */
  release (slot: Slot): void {
    if (!slot.held) return
    slot.held = false
    this.#uncount(slot.address, slot.userId)
  }

  /**
   * A socket's registry entry takes over the slot claimed at its upgrade check (it counts from then on,
   * and is counted back by `drop`); a socket registered without one (tests, embedders) is counted now.
   */
  adopt (slot: Slot | undefined, ip: string, userId: string | undefined): void {
    if (slot?.held === true) slot.held = false
    else this.#count(this.addressKey(ip), userId)
  }

  /** Counts back a socket whose entry adopted its slot, when it closes. */
  drop (ip: string, userId: string | undefined): void {
    this.#uncount(this.addressKey(ip), userId)
  }

  /** Open sockets (and upgrades under way) from an address (as addressKey groups it). */
  countByAddress (ip: string): number {
    return this.#perAddress.get(this.addressKey(ip)) ?? 0
  }

  /** Open sockets (and upgrades under way) of a user. */
  countByUser (userId: string): number {
    return this.#perUser.get(userId) ?? 0
  }

  #count (address: string, userId: string | undefined): void {
    this.#perAddress.set(address, (this.#perAddress.get(address) ?? 0) + 1)
    if (userId !== undefined) this.#perUser.set(userId, (this.#perUser.get(userId) ?? 0) + 1)
  }

  #uncount (address: string, userId: string | undefined): void {
    uncount(this.#perAddress, address)
    if (userId !== undefined) uncount(this.#perUser, userId)
  }
}

function uncount (counts: Map<string, number>, key: string): void {
  const n = (counts.get(key) ?? 1) - 1
  if (n <= 0) counts.delete(key)
  else counts.set(key, n)
}
