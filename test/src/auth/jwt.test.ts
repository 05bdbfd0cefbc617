import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import t from 'tap'
import { SignJWT } from 'jose'
import { bearerToken } from '../../../src/auth/bearer.js'
import { DEFAULT_MAX_TOKEN_TTL_S, TokenVerifier, redactToken, roomAllowed, tokenOf, verificationKey } from '../../../src/auth/jwt.js'
import { mint, signingKey } from '../../../src/token.js'

const key = verificationKey({ AUTH_MODE: 'jwt', JWT_SECRET: 's'.repeat(32) })!
const pem = (k: KeyObject, type: 'spki' | 'pkcs8') => String(k.export({ type, format: 'pem' } as { type: 'spki', format: 'pem' }))
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

t.test('roomAllowed: exact names, trailing-* prefixes, no claim = every room', async (t) => {
  t.ok(roomAllowed(undefined, 'anything'))
  t.ok(roomAllowed(['lobby'], 'lobby'))
  t.notOk(roomAllowed(['lobby'], 'lobby2'))
  t.ok(roomAllowed(['team-*'], 'team-a'))
  t.ok(roomAllowed(['team-*'], 'team-'))
  t.notOk(roomAllowed(['team-*'], 'team'))
  t.notOk(roomAllowed([], 'lobby'), 'an empty list allows nothing')
  t.ok(roomAllowed(['*'], 'x'), 'a lone * allows every room')
})

t.test('tokenOf: Bearer header first, else ?token=', async (t) => {
  t.equal(tokenOf('Bearer abc', { token: 'q' }), 'abc')
  t.equal(tokenOf('bearer abc', {}), 'abc')
  t.equal(tokenOf('Basic abc', { token: 'q' }), '', 'another scheme is no token (not a fallback to the query)')
  t.equal(tokenOf(undefined, { token: 'q' }), 'q')
  t.equal(tokenOf(undefined, { token: ['a', 'b'] }), undefined)
  t.equal(tokenOf(undefined, null), undefined)
})

t.test('redactToken replaces every token parameter and nothing else', async (t) => {
  t.equal(redactToken('/ws/chat/x?name=a&token=abc.def.ghi&since=3'), '/ws/chat/x?name=a&token=[redacted]&since=3')
  t.equal(redactToken('/ws/echo?token=a&token=b'), '/ws/echo?token=[redacted]&token=[redacted]')
  t.equal(redactToken('/ws/echo?mytoken=a'), '/ws/echo?mytoken=a')
  t.equal(redactToken('/health'), '/health')
})

t.test('verificationKey pins one algorithm per key and refuses unusable keys', async (t) => {
  t.equal(verificationKey({ AUTH_MODE: 'none' }), null)
  t.equal(verificationKey({ AUTH_MODE: 'jwt', JWT_SECRET: 'x'.repeat(32) })?.algorithm, 'HS256')
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const small = generateKeyPairSync('rsa', { modulusLength: 1024 })
  const ed = generateKeyPairSync('ed25519')
  t.equal(verificationKey({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: pem(rsa.publicKey, 'spki') })?.algorithm, 'RS256')
  t.equal(verificationKey({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: pem(ec.publicKey, 'spki').replaceAll('\n', '\\n') })?.algorithm, 'ES256', 'a one-line PEM with \\n works')
  t.throws(() => verificationKey({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: pem(small.publicKey, 'spki') }), /at least 2048 bits/)
  t.throws(() => verificationKey({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: pem(ed.publicKey, 'spki') }), /unsupported key \(ed25519\)/)
  t.throws(() => verificationKey({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: pem(rsa.privateKey, 'pkcs8') }), /holds a private key/)
  t.throws(() => verificationKey({ AUTH_MODE: 'jwt', JWT_SECRET: 'x'.repeat(32), JWT_PUBLIC_KEY: pem(rsa.publicKey, 'spki') }), /not both/)
  t.throws(() => verificationKey({ AUTH_MODE: 'none', JWT_PUBLIC_KEY: 'x' }), /JWT_PUBLIC_KEY is set but AUTH_MODE is none/)

  t.test('ES256 end to end with npm run token\'s signer; an RS256 token is refused by an ES256 server', async (t) => {
    const verifier = new TokenVerifier(verificationKey({ AUTH_MODE: 'jwt', JWT_PUBLIC_KEY: pem(ec.publicKey, 'spki') })!, { AUTH_MODE: 'jwt' })
    const tok = await mint(signingKey({ JWT_PRIVATE_KEY: pem(ec.privateKey, 'pkcs8') }), { sub: 'ann', ttlSeconds: 60, rooms: ['a*'] })
    t.match(await verifier.verify(tok), { ok: true, identity: { userId: 'ann', rooms: ['a*'], name: undefined } })
    const rs = await new SignJWT({ sub: 'ann', exp: Math.floor(Date.now() / 1000) + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(rsa.privateKey)
    t.same(await verifier.verify(rs), { ok: false, reason: 'algorithm not allowed' })
  })

  t.test('exp gets no clock tolerance; nbf gets 5 s', async (t) => {
    let clock = 1_800_000_000_000
    const key = verificationKey({ AUTH_MODE: 'jwt', JWT_SECRET: 'k'.repeat(32) })!
    const verifier = new TokenVerifier(key, { AUTH_MODE: 'jwt' }, () => clock)
    const s = Math.floor(clock / 1000)
    const tok = await new SignJWT({ sub: 'a', exp: s + 10, nbf: s + 3 }).setProtectedHeader({ alg: 'HS256' }).sign(key.key as Uint8Array)
    t.match(await verifier.verify(tok), { ok: true }, 'nbf 3 s ahead is within tolerance')
    clock += 10_000
    t.same(await verifier.verify(tok), { ok: false, reason: 'token expired' }, 'at exp it is refused')
  })
})
