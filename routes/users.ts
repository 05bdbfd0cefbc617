import type { FastifyInstance } from 'fastify'
import { Type, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { userStream } from '../src/hub/hub.js'
import { USER_ID_MAX } from '../src/protocol/codes.js'
import { ErrorReply, Published, PublishBody, publishBodyLimit, publishHttp } from './rooms.js'

// a JWT `sub` (src/auth/jwt.ts): 1-256 characters, no control characters
const UserParams = Type.Object({ userId: Type.String({ pattern: `^[^\\u0000-\\u001f\\u007f-\\u009f]{1,${USER_ID_MAX}}$` }) })
const UserBody = Type.Omit(PublishBody, ['from'], { additionalProperties: false, description: 'exactly one of `data` and `text`' })

/**
 * POST /users/:userId/messages (Bearer API_TOKEN): server -> user delivery. The message goes to the user's
 * personal stream `@<userId>`, held and resumable like a room's, which every hub and chat socket of that user
 * is subscribed to, on every instance. Only with AUTH_MODE=jwt: without it no socket belongs to a user.
 */
export default async function userRoutes (fastify: FastifyInstance) {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>()
  app.post('/users/:userId/messages', {
    onRequest: app.requireApiToken,
    bodyLimit: publishBodyLimit(app.realtimeConfig),
    schema: { params: UserParams, body: UserBody, response: { 201: Published, 200: Published, 400: ErrorReply, 404: ErrorReply, 503: ErrorReply } }
  }, async (req, reply) => {
    if (app.auth.verifier === null) {
      return await reply.code(404).send({ statusCode: 404, error: 'Not Found', message: 'personal streams need AUTH_MODE=jwt' })
    }
    return await publishHttp(app.hub, userStream(req.params.userId), { ...req.body, from: 'server' }, reply)
  })
}
