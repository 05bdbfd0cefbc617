import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/** Readiness: draining (shutdown begun) plus any check a plugin adds (e.g. the Redis backplane). */
export class Lifecycle {
  draining = false
  readonly #checks: Array<() => string | undefined> = []

  addCheck (check: () => string | undefined): void {
    this.#checks.push(check)
  }

  /** undefined when ready, else why not */
  notReady (): string | undefined {
    if (this.draining) return 'shutting down'
    for (const check of this.#checks) {
      const reason = check()
      if (reason !== undefined) return reason
    }
    return undefined
  }
}

declare module 'fastify' {
  interface FastifyInstance { lifecycle: Lifecycle }
}

async function lifecyclePlugin (app: FastifyInstance) {
  const lifecycle = new Lifecycle()
  app.decorate('lifecycle', lifecycle)
  // close() begins with preClose: from then on /ready says 503 and upgrades are refused
  app.addHook('preClose', async () => { lifecycle.draining = true })
}

export default fp(lifecyclePlugin, { name: 'lifecycle' })
