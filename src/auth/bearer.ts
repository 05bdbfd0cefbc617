// RFC 7235 2.1: an auth-scheme is case-insensitive and is followed by 1*SP before the credentials; a
// Bearer token (RFC 6750 2.1, token68) holds no spaces. Node has already stripped the header's outer spaces.
const BEARER = /^bearer +([^ ]+) *$/i

/**
 * The credentials of an `Authorization: Bearer <token>` header (`bearer`, `BEARER`, extra spaces: the same).
 * Undefined for no header, another scheme or a malformed value.
 */
export function bearerToken (authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined
  return BEARER.exec(authorization)?.[1]
}
