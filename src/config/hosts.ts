// Which hosts and origins may reach the service: the pure rules behind ALLOWED_HOSTS and ALLOWED_ORIGINS
// (plugins/upgrade-guard applies them to requests).

/** A Host header value split into a lower-case hostname (IPv6 in brackets) and the port it names, if any. */
export function hostPort (value: string): { hostname: string, port: number | undefined } | undefined {
  // a Host header has no scheme, path, query, user part or spaces: anything else is not a host
  if (value === '' || /[/?#@\\\s]/.test(value)) return undefined
  let url: URL
  try {
    url = new URL(`http://${value}`)
  } catch {
    return undefined
  }
  // URL drops :80 for http: read the port as written, so an entry `host:80` only matches a Host that says :80
  const m = /:(\d{1,5})$/.exec(value)
  if (m === null && value.endsWith(':')) return undefined
  return { hostname: url.hostname, port: m === null ? undefined : Number(m[1]) }
}

/**
 * Whether a request's Host may be served: `allowed` empty allows any; an entry `host` matches that host on
 * any port, `host:port` only on that port. A missing or malformed Host is never allowed by a list.
 */
export function hostAllowed (host: string | undefined, allowed: readonly string[]): boolean {
  if (allowed.length === 0) return true
  if (host === undefined) return false
  const h = hostPort(host)
  if (h === undefined) return false
  for (const entry of allowed) {
    if (entry === h.hostname || (h.port !== undefined && entry === `${h.hostname}:${h.port}`)) return true
  }
  return false
}

/**
 * Whether a browser's Origin is the request's own origin: the same scheme, host and port as `protocol`
 * (http/https of the connection, or X-Forwarded-Proto from a trusted proxy) and `host`. Default ports are the
 * same as none (`http://h:80` is `http://h`); a scheme that is not http(s), such as an extension's, never is.
 */
export function sameOrigin (origin: string, protocol: string, host: string | undefined): boolean {
  if (host === undefined) return false
  try {
    const theirs = new URL(origin)
    // a non-special scheme (chrome-extension:, moz-extension:, file:) has the opaque origin "null"
    if (theirs.origin === 'null') return false
    return theirs.origin === new URL(`${protocol}://${host}`).origin
  } catch {
    return false
  }
}
