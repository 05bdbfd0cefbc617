import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import t from 'tap'
import { SignJWT } from 'jose'
import { ExpiryTimer } from '../../src/auth/expiry.js'
import { TokenVerifier, redactToken, roomAllowed, tokenOf, verificationKey } from '../../src/auth/jwt.js'
import { mint, signingKey } from '../../src/token.js'

const pem = (k: KeyObject, type: 'spki' | 'pkcs8') => String(k.export({ type, format: 'pem' } as { type: 'spki', format: 'pem' }))

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

t.test('ExpiryTimer: warns once before, expires at the time, moves on set, steps over long waits', async (t) => {
  const events: string[] = []
  const timer = new ExpiryTimer(Date.now() + 120, 60, { warn: (ms) => events.push(`warn ${ms > 0 && ms <= 60 ? 'ok' : ms}`), expire: () => events.push('expire') })
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.same(events, ['warn ok', 'expire'])
  timer.stop()

  const events2: string[] = []
  const moved = new ExpiryTimer(Date.now() + 100, 10, { warn: () => events2.push('warn'), expire: () => events2.push('expire') })
  moved.set(Date.now() + 10_000)
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.same(events2, [], 'a refresh moved the expiry')
  moved.stop()

  const events3: string[] = []
  const far = new ExpiryTimer(Date.now() + 40 * 24 * 3600 * 1000, 30_000, { warn: () => events3.push('warn'), expire: () => events3.push('expire') })
  await new Promise((resolve) => setTimeout(resolve, 50))
  t.same(events3, [], 'a 40-day token does not fire at once (setTimeout overflow)')
  far.stop()
  const gone = new ExpiryTimer(Date.now() - 1, 10, { warn: () => events3.push('warn'), expire: () => events3.push('expire') })
  t.same(events3, ['expire'], 'an expiry in the past fires at once, with no warning')
  gone.stop()
})
