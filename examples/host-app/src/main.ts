import { buildHost } from './app.js'

const app = await buildHost({ greeting: 'hello from the host', redisUrl: process.env.REDIS_URL })
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => { app.close().then(() => process.exit(0), () => process.exit(1)) })
}
await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
