import t from 'tap'
import { SignJWT } from 'jose'
import { bearerToken } from '../../../src/auth/bearer.js'
import { DEFAULT_MAX_TOKEN_TTL_S, TokenVerifier, tokenOf, verificationKey } from '../../../src/auth/jwt.js'

const key = verificationKey({ AUTH_MODE: 'jwt', JWT_SECRET: 's'.repeat(32) })!
const sign = async (claims: Record<string, unknown>) => await new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key.key as Uint8Array)

t.test('bearerToken: the scheme in any case, 1*SP before the token, nothing else', async (t) => {
  for (const header of ['Bearer abc', 'bearer abc', 'BEARER abc', 'BeArEr abc', 'Bearer   abc', 'Bearer abc  ']) {
    t.equal(bearerToken(header), 'abc', JSON.stringify(header))
  }
  t.equal(bearerToken('Bearer a.b-c_d~e+f/g=='), 'a.b-c_d~e+f/g==', 'every token68 character')
  for (const header of ['Basic abc', 'Bearer', 'Bearer ', 'Bearerabc', 'Bearer\tabc', 'Bearer a b', 'Token abc', '']) {
    t.equal(bearerToken(header), undefined, `${JSON.stringify(header)} is no bearer token`)
  }
  t.equal(bearerToken(undefined), undefined)
})

t.test('tokenOf follows bearerToken for the header', async (t) => {
  t.equal(tokenOf('BEARER  abc', { token: 'q' }), 'abc')
  t.equal(tokenOf('bearer abc', {}), 'abc')
  t.equal(tokenOf('Bearer a b', { token: 'q' }), '', 'a malformed header is no token, not a fallback to the query')
})

t.test('lifetime: exp more than AUTH_MAX_TOKEN_TTL_S ahead is refused; the default is a day', async (t) => {
  const clock = 1_800_000_000_000
  const s = clock / 1000
  const hour = new TokenVerifier(key, { AUTH_MODE: 'jwt', AUTH_MAX_TOKEN_TTL_S: 3600 }, () => clock)
  t.match(await hour.verify(await sign({ sub: 'a', exp: s + 3600 })), { ok: true }, 'exactly the bound')
  t.match(await hour.verify(await sign({ sub: 'a', exp: s + 3605 })), { ok: true }, 'within the clock tolerance')
  t.same(await hour.verify(await sign({ sub: 'a', exp: s + 3606 })), { ok: false, reason: 'token lifetime too long: exp is more than 3600 s ahead' })
  t.same(await hour.verify(await sign({ sub: 'a', exp: s + 365 * 86_400 })), { ok: false, reason: 'token lifetime too long: exp is more than 3600 s ahead' }, 'a year')
  t.equal(DEFAULT_MAX_TOKEN_TTL_S, 86_400)
  const byDefault = new TokenVerifier(key, { AUTH_MODE: 'jwt' }, () => clock)
  t.match(await byDefault.verify(await sign({ sub: 'a', exp: s + 86_400 })), { ok: true })
  t.same(await byDefault.verify(await sign({ sub: 'a', exp: s + 2 * 86_400 })), { ok: false, reason: 'token lifetime too long: exp is more than 86400 s ahead' })
  // the bound is on what is left, not on exp - iat: an old token near its end is fine
  t.match(await hour.verify(await sign({ sub: 'a', iat: s - 30 * 86_400, exp: s + 60 })), { ok: true }, 'a long-lived token with an hour left')
})

t.test('iat in the future beyond the 5 s tolerance is refused', async (t) => {
  const clock = 1_800_000_000_000
  const s = clock / 1000
  const verifier = new TokenVerifier(key, { AUTH_MODE: 'jwt' }, () => clock)
  t.match(await verifier.verify(await sign({ sub: 'a', iat: s, exp: s + 60 })), { ok: true })
  t.match(await verifier.verify(await sign({ sub: 'a', iat: s + 5, exp: s + 60 })), { ok: true }, 'a clock 5 s ahead')
  t.same(await verifier.verify(await sign({ sub: 'a', iat: s + 6, exp: s + 60 })), { ok: false, reason: 'token issued in the future (iat)' })
  t.same(await verifier.verify(await sign({ sub: 'a', iat: s + 86_400, exp: s + 90_000 })), { ok: false, reason: 'token issued in the future (iat)' })
  t.same(await verifier.verify(await sign({ sub: 'a', iat: 'soon', exp: s + 60 })), { ok: false, reason: 'invalid iat claim' }, 'a non-numeric iat')
})

t.test('sub: control characters and over-long values are refused', async (t) => {
  const verifier = new TokenVerifier(key, { AUTH_MODE: 'jwt' })
  const exp = Math.floor(Date.now() / 1000) + 60
  for (const sub of ['a\nb', 'a\rb', '\u0000', 'tab\there', 'del\u007f', 'c1\u0085', 'c1\u009f', 'esc\u001b[31m']) {
    t.same(await verifier.verify(await sign({ sub, exp })), { ok: false, reason: 'invalid claims: sub must not contain control characters' }, JSON.stringify(sub))
  }
  t.same(await verifier.verify(await sign({ sub: 'x'.repeat(257), exp })), { ok: false, reason: 'invalid claims: sub must be a string of 1-256 characters' })
  for (const sub of ['x'.repeat(256), 'user@example.com', 'Zoë 🙂', 'a\u00a0b']) {
    t.match(await verifier.verify(await sign({ sub, exp })), { ok: true, identity: { userId: sub } }, JSON.stringify(sub.slice(0, 20)))
  }
})
