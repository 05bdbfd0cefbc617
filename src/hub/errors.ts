/** Thrown by a store that cannot serve (its backend is down): answered with `unavailable`. */
export class UnavailableError extends Error {
  override name = 'UnavailableError'
}

/** Thrown when a new room would exceed MAX_ROOMS and every held room has members: answered with 503. */
export class RoomLimitError extends Error {
  override name = 'RoomLimitError'
  readonly statusCode = 503
}
