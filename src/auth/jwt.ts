// Connection tokens: which key and algorithms verify them, what a verified identity is, and the room rule.
// Verification is jose's (no hand-written crypto); this file only pins the algorithms and reads the claims.
import { createPublicKey, type KeyObject } from 'node:crypto'
import type { JWTPayload } from 'jose'
import { ROOM_PATTERN, parseName } from '../protocol/chat.js'
import { bearerToken } from './bearer.js'

export interface AuthSettings {
  AUTH_MODE: 'none' | 'jwt'
  JWT_SECRET?: string | undefined
  JWT_PUBLIC_KEY?: string | undefined
  JWT_ISSUER?: string | undefined
  JWT_AUDIENCE?: string | undefined
  /** the longest lifetime a token may have left when it is presented (exp - now), in seconds */
  AUTH_MAX_TOKEN_TTL_S?: number | undefined
}

/** Who a verified token says is connecting. */
export interface Identity {
  /** the `sub` claim */
  userId: string
  /** the `name` claim, already checked like `?name=` */
  name: string | undefined
  /** the `rooms` claim: exact names, or prefixes written with a trailing `*`; undefined = every room */
  rooms: string[] | undefined
  /** the `exp` claim, in ms since the epoch */
  expiresAt: number
}

export type Verified = { ok: true, identity: Identity } | { ok: false, reason: string }

export type Algorithm = 'HS256' | 'RS256' | 'ES256'

export interface VerificationKey {
  key: KeyObject | Uint8Array
  /** exactly one algorithm, fixed by the key: no `none`, no HS/RS confusion */
  algorithm: Algorithm
}

const SUB_MAX = 256
// C0 controls, DEL and C1: a user id is a key in logs and in the Redis presence entries, which are
// newline-separated; a control character would split or forge one
// eslint-disable-next-line no-control-regex
const SUB_CONTROL = /[\u0000-\u001f\u007f-\u009f]/
/** AUTH_MAX_TOKEN_TTL_S when the settings leave it out (as the config's default) */
export const DEFAULT_MAX_TOKEN_TTL_S = 86_400
const ROOMS_MAX = 256
const ROOM_OR_PREFIX = new RegExp(ROOM_PATTERN.replace('$', '\\*?$'))
// jose is loaded on the first verification: an instance without AUTH_MODE=jwt keeps its 0.7 MB out of the heap
let jose: Promise<typeof import('jose')> | undefined

/**
 * nbf and iat may be this far ahead of our clock, and exp this much past the longest lifetime (issuers'
 * clocks drift); exp itself gets no tolerance (see verify)
 */
const CLOCK_TOLERANCE_S = 5

/**
 * The key that verifies tokens, and the one algorithm it accepts. Throws with a message naming the
 * variable when the set is incomplete or the key is unusable (start-up refuses it).
 */
export function verificationKey (settings: AuthSettings): VerificationKey | null {
  const { AUTH_MODE, JWT_SECRET, JWT_PUBLIC_KEY } = settings
  if (AUTH_MODE === 'none') {
    // a secret with auth off would look protected and be open: refuse the ambiguity
    const stray = JWT_SECRET !== undefined ? 'JWT_SECRET' : JWT_PUBLIC_KEY !== undefined ? 'JWT_PUBLIC_KEY' : undefined
    if (stray !== undefined) throw new Error(`${stray} is set but AUTH_MODE is none: set AUTH_MODE=jwt to require tokens, or unset ${stray}`)
    return null
  }
  if (JWT_SECRET !== undefined && JWT_PUBLIC_KEY !== undefined) {
    throw new Error('AUTH_MODE=jwt takes JWT_SECRET (HS256) or JWT_PUBLIC_KEY (RS256/ES256), not both')
  }
  if (JWT_SECRET !== undefined) return { key: new TextEncoder().encode(JWT_SECRET), algorithm: 'HS256' }
  if (JWT_PUBLIC_KEY === undefined) throw new Error('AUTH_MODE=jwt needs JWT_SECRET (HS256) or JWT_PUBLIC_KEY (PEM, RS256/ES256)')
  const pem = pemFromEnv(JWT_PUBLIC_KEY)
  if (pem.includes('PRIVATE KEY')) throw new Error('JWT_PUBLIC_KEY holds a private key: give the server the public key only')
  let key: KeyObject
  try {
    key = createPublicKey(pem)
  } catch {
    throw new Error('JWT_PUBLIC_KEY is not a PEM public key')
  }
  const type = key.asymmetricKeyType
  if (type === 'rsa') {
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('JWT_PUBLIC_KEY: an RSA key needs at least 2048 bits')
    return { key, algorithm: 'RS256' }
  }
  if (type === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { key, algorithm: 'ES256' }
  throw new Error(`JWT_PUBLIC_KEY: unsupported key (${type ?? 'unknown'}); use RSA (RS256) or EC P-256 (ES256)`)
}

/** A PEM from an environment variable, where newlines are often written as `\n`. */
export function pemFromEnv (value: string): string {
  return value.includes('\\n') ? value.replaceAll('\\n', '\n') : value
}

export class TokenVerifier {
  readonly #key: VerificationKey
  readonly #issuer: string | undefined
  readonly #audience: string | undefined
  readonly #maxTtlMs: number
  readonly #now: () => number

  constructor (key: VerificationKey, settings: AuthSettings, now: () => number = Date.now) {
    this.#key = key
    this.#issuer = settings.JWT_ISSUER
    this.#audience = settings.JWT_AUDIENCE
    this.#maxTtlMs = (settings.AUTH_MAX_TOKEN_TTL_S ?? DEFAULT_MAX_TOKEN_TTL_S) * 1000
    this.#now = now
  }

  get algorithm (): Algorithm {
    return this.#key.algorithm
  }

  /** Verifies a compact JWT and reads its claims. Never throws: a refusal carries a reason fit for a 401 body. */
  async verify (token: string | undefined): Promise<Verified> {
    if (token === undefined || token === '') return { ok: false, reason: 'missing token' }
    let payload: JWTPayload
    try {
      jose ??= import('jose')
      ;({ payload } = await (await jose).jwtVerify(token, this.#key.key, {
        algorithms: [this.#key.algorithm],
        ...(this.#issuer !== undefined ? { issuer: this.#issuer } : {}),
        ...(this.#audience !== undefined ? { audience: this.#audience } : {}),
        requiredClaims: ['sub', 'exp'],
        clockTolerance: CLOCK_TOLERANCE_S,
        currentDate: new Date(this.#now())
      }))
    } catch (err) {
      return { ok: false, reason: refusalReason(err) }
    }
    // jose's tolerance applies to exp too; a token past its exp is refused here, so the socket's
    // close at exp (see ExpiryTimer) never meets a token accepted after it
    const expiresAt = (payload.exp as number) * 1000
    const now = this.#now()
    if (expiresAt <= now) return { ok: false, reason: 'token expired' }
    // a stolen long-lived token stays usable until its exp: refuse lifetimes past the operator's bound, and
    // an iat in the future (jose only checks iat's type unless asked for a maximum age)
    if (typeof payload.iat === 'number' && payload.iat * 1000 > now + CLOCK_TOLERANCE_S * 1000) {
      return { ok: false, reason: 'token issued in the future (iat)' }
    }
    if (expiresAt - now > this.#maxTtlMs + CLOCK_TOLERANCE_S * 1000) {
      return { ok: false, reason: `token lifetime too long: exp is more than ${this.#maxTtlMs / 1000} s ahead` }
    }
    return claims(payload, expiresAt)
  }
}

function claims (payload: JWTPayload, expiresAt: number): Verified {
  const { sub } = payload
  if (typeof sub !== 'string' || sub.length < 1 || sub.length > SUB_MAX) return { ok: false, reason: `invalid claims: sub must be a string of 1-${SUB_MAX} characters` }
  if (SUB_CONTROL.test(sub)) return { ok: false, reason: 'invalid claims: sub must not contain control characters' }
  let name: string | undefined
  if (payload.name !== undefined) {
    const parsed = typeof payload.name === 'string' ? parseName(payload.name, () => '') : { ok: false as const, reason: 'must be a string' }
    if (!parsed.ok) return { ok: false, reason: `invalid claims: name ${parsed.reason}` }
    name = parsed.name
  }
  let rooms: string[] | undefined
  if (payload.rooms !== undefined) {
    const list = payload.rooms
    if (!Array.isArray(list) || list.length > ROOMS_MAX || !list.every((r) => typeof r === 'string' && ROOM_OR_PREFIX.test(r))) {
      return { ok: false, reason: 'invalid claims: rooms must be a list of room names (a trailing * matches a prefix)' }
    }
    rooms = list as string[]
  }
  return { ok: true, identity: { userId: sub, name, rooms, expiresAt } }
}

/** jose's error codes (stable API) as the reasons a 401 gives. */
function refusalReason (err: unknown): string {
  const { code, claim } = err as { code?: string, claim?: string }
  switch (code) {
    case 'ERR_JWT_EXPIRED': return 'token expired'
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED':
      switch (claim) {
        case 'nbf': return 'token not yet valid'
        case 'iss': return 'wrong issuer'
        case 'aud': return 'wrong audience'
        case 'iat': return 'invalid iat claim'
        default: return `missing or invalid ${claim ?? 'unknown'} claim`
      }
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return 'algorithm not allowed'
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return 'bad signature'
    default: return 'malformed token'
  }
}

/** Whether a token's `rooms` claim lets its holder into `room` (no claim: every room). */
export function roomAllowed (rooms: readonly string[] | undefined, room: string): boolean {
  if (rooms === undefined) return true
  for (const r of rooms) {
    if (r.endsWith('*') ? room.startsWith(r.slice(0, -1)) : r === room) return true
  }
  return false
}

/**
 * The token of a request: `Authorization: Bearer` first (any case), else `?token=` (browsers cannot set
 * headers on a WebSocket). Another scheme is no token, not a fallback to the query.
 */
export function tokenOf (authorization: string | undefined, query: unknown): string | undefined {
  if (authorization !== undefined) return bearerToken(authorization) ?? ''
  const token = (query as { token?: unknown } | null)?.token
  return typeof token === 'string' ? token : undefined
}

// A query parameter in a URL or in a message quoting one: a delimiter, the raw key, `=`. Fastify's router
// starts the query at the first `?` or `#` and fast-querystring splits it on `&`; any of `?#&;` is taken as a
// start here, so every key the parser can see is looked at (and a few more, which costs nothing).
const QUERY_KEY = /[?#&;]([^?#&;=\s]*)=/g
const REDACTED = '[redacted]'

/**
 * Text fit for a log line (a request URL, an error message): the value of every query parameter whose
 * DECODED key is `token`, in any case, replaced. The query parser (fast-querystring) percent-decodes keys
 * and turns `+` into a space before `tokenOf` reads `token`, so `?%74oken=` reaches the verifier just as
 * `?token=` does; redacting by decoded key keeps every spelling the parser accepts out of the logs, and
 * also spellings it refuses (`?TOKEN=`), whose URL is logged before the 401. A value runs to the next `&`
 * (where the parser ends it, past any `#`) or to whitespace (the end of a URL quoted in a message).
 */
export function redactToken (text: string): string {
  if (!text.includes('=')) return text
  let out = ''
  let from = 0
  QUERY_KEY.lastIndex = 0
  for (let m = QUERY_KEY.exec(text); m !== null; m = QUERY_KEY.exec(text)) {
    if (!isTokenKey(m[1]!)) continue
    const start = QUERY_KEY.lastIndex
    let end = start
    while (end < text.length) {
      const c = text.charCodeAt(end)
      if (c === 38 || c <= 32) break // `&`, or whitespace and control characters
      end++
    }
    out += text.slice(from, start) + REDACTED
    from = end
    QUERY_KEY.lastIndex = end
  }
  return from === 0 ? text : out + text.slice(from)
}

/**
 * A raw query key that decodes (as fast-querystring decodes it) to `token` or `ticket`, in any case: an unused
 * connection ticket read from a log would open a socket as its user.
 */
function isTokenKey (raw: string): boolean {
  // `token` is 5 characters; `ticket` fully percent-encoded, 18
  if (raw.length < 5 || raw.length > 18) return false
  let key = raw
  if (raw.includes('%')) {
    try {
      key = decodeURIComponent(raw.replaceAll('+', ' '))
    } catch {
      return false // the parser keeps an undecodable key as it is: then it holds a `%`, never `token`
    }
  }
  const lower = key.toLowerCase()
  return lower === 'token' || lower === 'ticket'
}
