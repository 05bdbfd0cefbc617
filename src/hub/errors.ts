/** Thrown by a store that cannot serve (its backend is down): answered with `unavailable`. */
export class UnavailableError extends Error {
  override name = 'UnavailableError'
}
