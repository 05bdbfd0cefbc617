#!/usr/bin/env node
// The package's command: `fastify-realtime serve` (the service, configured by its environment) and
// `fastify-realtime token ...` (a signed connection token). Runs from the built JS, no dev dependency.
import { TOKEN_USAGE, tokenCommand } from './token.js'

const USAGE = `usage: fastify-realtime <command>

commands:
  serve            start the service; settings from the environment (PORT, HOST, REDIS_URL, AUTH_MODE, ...;
                   see docs/configuration.md). SIGTERM or SIGINT drains the sockets with 1001.
  token --sub <id> print a signed connection token for AUTH_MODE=jwt
                   ${TOKEN_USAGE.replace('\n', '\n                   ')}
  --help           this text
`

const [command, ...args] = process.argv.slice(2)
if (command === 'serve' && !args.includes('--help')) {
  await import('./server.js') // reads the environment, listens, handles signals
} else if (command === 'token' && !args.includes('--help')) {
  try {
    process.stdout.write(`${await tokenCommand(args, process.env)}\n`)
  } catch (err) {
    process.stderr.write(`token: ${(err as Error).message}\n`)
    process.exitCode = 1
  }
} else if (command === 'token') {
  process.stdout.write(`${TOKEN_USAGE}\n`)
} else {
  const help = command === undefined || command === '--help' || command === '-h' || command === 'help' || args.includes('--help')
  ;(help ? process.stdout : process.stderr).write(help ? USAGE : `unknown command ${command}\n\n${USAGE}`)
  if (!help) process.exitCode = 2
}
