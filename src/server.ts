import { createRequire } from 'node:module'
import { buildApp, loggerOptions } from './app.js'
import { ConfigError, loadConfig } from './config/load.js'
import type { Config } from './config/schema.js'

// The process entry: the only reader of process.env.
let config: Config
try {
  config = loadConfig(process.env)
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`config error: ${err.message}\n`)
    process.exit(1)
  }
  throw err
}

// JSON lines for machines; in a terminal, readable lines through pino-pretty (a dev dependency) when installed
const pretty = process.stdout.isTTY === true && process.env.NO_PRETTY === undefined && resolvable('pino-pretty')
const app = await buildApp(config, pretty
  ? { logger: { ...loggerOptions(config), transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } }
  : {})

function resolvable (name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name)
    return true
  } catch {
    return false
  }
}

let stopping = false
async function shutdown (signal: string): Promise<void> {
  if (stopping) return
  stopping = true
  app.log.info({ signal }, 'shutting down')
  const force = setTimeout(() => {
    app.log.error({ timeoutMs: config.SHUTDOWN_TIMEOUT_MS }, 'shutdown timed out: forcing exit')
    process.exit(1)
  }, config.SHUTDOWN_TIMEOUT_MS)
  force.unref()
  try {
    await app.close()
    process.exit(0)
  } catch (err) {
    app.log.error({ err }, 'error during shutdown')
    process.exit(1)
  }
}
process.once('SIGTERM', () => { shutdown('SIGTERM').catch(() => process.exit(1)) })
process.once('SIGINT', () => { shutdown('SIGINT').catch(() => process.exit(1)) })
process.on('unhandledRejection', (err) => {
  app.log.error({ err }, 'unhandled rejection')
})

try {
  await app.listen({ port: config.PORT, host: config.HOST })
} catch (err) {
  app.log.fatal({ err }, 'could not listen')
  process.exit(1)
}
