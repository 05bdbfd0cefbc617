import { CLOSE } from '../protocol/codes.js'

// Label values for metrics whose raw value comes from the peer. A Prometheus series lives for the process's
// life, so a label copied from client input lets one client create as many series as it has values to send.

/**
 * Close codes the server itself produces or observes on its own: ws's protocol refusals (1002, 1007, 1009),
 * the codes our handlers and registry send (1000, 1001, 1003, 1011 and the server's own 4000-4003, 4500,
 * 4501: src/protocol/codes.ts), 1008 (an administrator may still pick it), and what ws reports when no code or
 * no close frame arrived (1005, 1006). Those keep their own series; any other code an administrator or a
 * client picks falls into a range.
 */
const OWN_CODES: ReadonlySet<number> = new Set([
  1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011,
  CLOSE.RATE_LIMITED, CLOSE.SLOW_CONSUMER, CLOSE.TOKEN_EXPIRED, CLOSE.OVERLOADED, CLOSE.KICKED, CLOSE.FORBIDDEN
])

/** The `code` label of a close: one of OWN_CODES as a number, else `1xxx`, `3xxx`, `4xxx` or `other`. */
export function closeCodeLabel (code: number): string {
  if (OWN_CODES.has(code)) return String(code)
  if (!Number.isInteger(code)) return 'other'
  if (code >= 1000 && code <= 1999) return '1xxx'
  if (code >= 3000 && code <= 3999) return '3xxx'
  if (code >= 4000 && code <= 4999) return '4xxx'
  return 'other'
}
