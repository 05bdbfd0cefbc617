import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'

/**
 * Readiness: not while the registry drains (shutdown begun, see plugins/registry), nor while any check
 * a plugin adds fails (e.g. the Redis backplane).
 */
export class Lifecycle {
  readonly #checks: Array<() => string | undefined> = []

  constructor (readonly shutdown: { readonly draining: boolean }) {}

  addCheck (check: () => string | undefined): void {
    this.#checks.push(check)
  }

  /** undefined when ready, else why not */
  notReady (): string | undefined {
    if (this.shutdown.draining) return 'shutting down'
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
  app.decorate('lifecycle', new Lifecycle(app.registry))
}

export default fp(lifecyclePlugin, { name: 'lifecycle', dependencies: ['registry'] })
