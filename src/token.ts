// `npm run token -- --sub alice [--name Alice] [--ttl 3600] [--rooms lobby,team-*]`: prints a signed
// connection token, for trying AUTH_MODE=jwt. Signs with JWT_SECRET (HS256) or JWT_PRIVATE_KEY (PEM:
// RS256 for RSA, ES256 for EC P-256), adding JWT_ISSUER and JWT_AUDIENCE when set. A backend mints its
// tokens the same way (see docs/authentication.md).
import { createPrivateKey, type KeyObject } from 'node:crypto'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { SignJWT } from 'jose'
import { pemFromEnv } from './auth/jwt.js'

export interface MintOptions {
  sub: string
  name?: string | undefined
  ttlSeconds: number
  rooms?: string[] | undefined
  issuer?: string | undefined
  audience?: string | undefined
}

export type SigningKey = { alg: 'HS256', key: Uint8Array } | { alg: 'RS256' | 'ES256', key: KeyObject }

/** The signing key from the environment: JWT_SECRET, or JWT_PRIVATE_KEY (never given to the server). */
export function signingKey (env: Record<string, string | undefined>): SigningKey {
  if (env.JWT_SECRET !== undefined && env.JWT_SECRET !== '') return { alg: 'HS256', key: new TextEncoder().encode(env.JWT_SECRET) }
  if (env.JWT_PRIVATE_KEY === undefined || env.JWT_PRIVATE_KEY === '') throw new Error('set JWT_SECRET (HS256) or JWT_PRIVATE_KEY (PEM, RS256/ES256) to sign tokens')
  const key = createPrivateKey(pemFromEnv(env.JWT_PRIVATE_KEY))
  if (key.asymmetricKeyType === 'rsa') return { alg: 'RS256', key }
  if (key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1') return { alg: 'ES256', key }
  throw new Error('JWT_PRIVATE_KEY must be an RSA or EC P-256 private key')
}

export async function mint (signing: SigningKey, opts: MintOptions): Promise<string> {
  const claims: Record<string, unknown> = {}
  if (opts.name !== undefined) claims.name = opts.name
  if (opts.rooms !== undefined) claims.rooms = opts.rooms
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: signing.alg, typ: 'JWT' })
    .setSubject(opts.sub)
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + opts.ttlSeconds)
  if (opts.issuer !== undefined) jwt = jwt.setIssuer(opts.issuer)
  if (opts.audience !== undefined) jwt = jwt.setAudience(opts.audience)
  return await jwt.sign(signing.key)
}

export const TOKEN_USAGE = 'usage: fastify-realtime token --sub <user id> [--name <display name>] [--ttl <seconds, default 3600>] [--rooms lobby,team-*]\n' +
  'Signs with JWT_SECRET (HS256) or JWT_PRIVATE_KEY (PEM: RS256/ES256), adding JWT_ISSUER and JWT_AUDIENCE when set.'

/** The `token` command: a signed connection token for `args`, keys from `env`. */
export async function tokenCommand (args: string[], env: Record<string, string | undefined>): Promise<string> {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      name: { type: 'string' },
      ttl: { type: 'string', default: '3600' },
      rooms: { type: 'string' }
    }
  })
  const ttl = Number(values.ttl)
  if (values.sub === undefined || values.sub === '' || !Number.isInteger(ttl) || ttl <= 0) {
    throw new Error(TOKEN_USAGE)
  }
  return await mint(signingKey(env), {
    sub: values.sub,
    name: values.name,
    ttlSeconds: ttl,
    rooms: values.rooms?.split(',').map((r) => r.trim()).filter((r) => r !== ''),
    issuer: env.JWT_ISSUER,
    audience: env.JWT_AUDIENCE
  })
}

// run as a command (npm run token), not when imported (tests, a backend reusing mint)
if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === realpathSync(process.argv[1])) {
  tokenCommand(process.argv.slice(2), process.env).then((token) => process.stdout.write(`${token}\n`), (err: unknown) => {
    process.stderr.write(`token: ${(err as Error).message}\n`)
    process.exit(1)
  })
}
