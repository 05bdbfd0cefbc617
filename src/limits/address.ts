// How an address is counted by the per-address limits (connection cap, upgrade rate, message budget).
// One IPv4 address is one client; an IPv6 client is usually handed a whole prefix (a /64 per
// subscriber is the norm), so counting single IPv6 addresses would let one client take as many
// slots and tokens as it has addresses to pick from.
import { isIPv4, isIPv6 } from 'node:net'

export const DEFAULT_IPV6_PREFIX_BITS = 64

/**
 * The key `ip` is counted under: an IPv4 address as itself; an IPv4-mapped IPv6 address
 * (`::ffff:1.2.3.4`) as its IPv4 address; any other IPv6 address as its first `prefixBits` bits,
 * written `<groups>/<bits>` (`2001:db8:0:0:0:0:0:0/64`), with any zone id (`%eth0`) dropped. Anything
 * that is not an address (e.g. a test's `unknown`) is its own key.
 */
export function addressKey (ip: string, prefixBits: number = DEFAULT_IPV6_PREFIX_BITS): string {
  if (isIPv4(ip)) return ip
  const zone = ip.indexOf('%')
  const bare = zone === -1 ? ip : ip.slice(0, zone)
  if (!isIPv6(bare)) return ip
  const groups = ipv6Groups(bare)
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `${groups[6]! >> 8}.${groups[6]! & 0xff}.${groups[7]! >> 8}.${groups[7]! & 0xff}`
  }
  let key = ''
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, prefixBits - i * 16))
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff
    key += (i === 0 ? '' : ':') + (groups[i]! & mask).toString(16)
  }
  return `${key}/${prefixBits}`
}

/** The eight 16-bit groups of a valid IPv6 address (no zone), `::` and a dotted IPv4 tail expanded. */
function ipv6Groups (ip: string): number[] {
  const halves = ip.split('::')
  const head = words(halves[0]!)
  if (halves.length === 1) return head
  const tail = words(halves[1]!)
  const zeros: number[] = new Array<number>(8 - head.length - tail.length).fill(0)
  return head.concat(zeros, tail)
}

function words (part: string): number[] {
  const out: number[] = []
  if (part === '') return out
  for (const group of part.split(':')) {
    if (group.includes('.')) {
      const [a, b, c, d] = group.split('.').map(Number) as [number, number, number, number]
      out.push((a << 8) | b, (c << 8) | d)
    } else {
      out.push(parseInt(group, 16))
    }
  }
  return out
}

/**
 * The key a client's shared budgets are kept under: the user when the socket is authenticated (every
 * address of one user shares it), else the address as addressKey groups it.
 */
export function clientKey (ip: string, userId: string | undefined, prefixBits: number): string {
  return userId !== undefined ? `u:${userId}` : addressKey(ip, prefixBits)
}
