// Socket.IO 4 reference server for the bench: echo event, chat rooms with io.to(room).emit and
// a time push, the same work as the service's endpoints in Socket.IO's idiom. Clients choose
// the endpoint in the handshake query: ?mode=echo | time | chat&room=R&name=N.
// Settings: PORT, HOST, HISTORY_SIZE (100), PRESENCE_EVENTS_MAX_MEMBERS (1000); for the cross-instance bench,
// SIO_ADAPTER=redis (@socket.io/redis-adapter) or sharded (its createShardedAdapter, SPUBLISH/SSUBSCRIBE) on
// REDIS_URL: broadcasts reach the rooms' sockets on every instance (seq, history and names stay per instance).
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { createAdapter, createShardedAdapter } from '@socket.io/redis-adapter'
import { Redis } from 'ioredis'
import { Server } from 'socket.io'

const PORT = Number(process.env.PORT ?? 3200)
const HOST = process.env.HOST ?? '127.0.0.1'
const HISTORY_SIZE = Number(process.env.HISTORY_SIZE ?? 100)
const PRESENCE_MAX = Number(process.env.PRESENCE_EVENTS_MAX_MEMBERS ?? 1000)

interface ChatMessage { type: 'message', id: string, room: string, seq: number, from: string, text: string, ts: number }
interface Room { names: Map<string, string>, seq: number, epoch: string, history: ChatMessage[] }

const rooms = new Map<string, Room>()

const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"status":"ok"}')
    return
  }
  // socket.io answers its own path; anything else falls through here
  if (!(req.url ?? '').startsWith('/socket.io/')) res.writeHead(404).end()
})
const io = new Server(server, { transports: ['websocket'], serveClient: false, maxHttpBufferSize: 65536 })
const ADAPTER = process.env.SIO_ADAPTER ?? ''
if (ADAPTER !== '') {
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
  const pub = new Redis(url)
  const sub = pub.duplicate()
  if (ADAPTER === 'redis') io.adapter(createAdapter(pub, sub))
  else if (ADAPTER === 'sharded') io.adapter(createShardedAdapter(pub, sub))
  else throw new Error(`SIO_ADAPTER must be redis or sharded, not ${ADAPTER}`)
}

const timeIntervals = new Map<number, NodeJS.Timeout>()
function timePayload (): object {
  const now = Date.now()
  return { type: 'time', iso: new Date(now).toISOString(), epochMs: now }
}

io.on('connection', (socket) => {
  const q = socket.handshake.query
  const mode = String(q.mode ?? 'echo')
  if (mode === 'echo') {
    socket.on('echo', (data: unknown) => socket.emit('echo', data))
    return
  }
  if (mode === 'time') {
    const interval = Number(q.interval ?? 1000)
    const roomName = `time:${interval}`
    socket.join(roomName)
    if (!timeIntervals.has(interval)) {
      timeIntervals.set(interval, setInterval(() => io.to(roomName).emit('time', timePayload()), interval))
    }
    socket.emit('time', timePayload())
    return
  }
  const roomName = String(q.room ?? 'lobby')
  const name = typeof q.name === 'string' ? q.name : `guest-${randomBytes(2).toString('hex')}`
  let room = rooms.get(roomName)
  if (room === undefined) {
    room = { names: new Map(), seq: 0, epoch: randomBytes(6).toString('base64url'), history: [] }
    rooms.set(roomName, room)
  }
  const r = room
  r.names.set(socket.id, name)
  socket.join(roomName)
  const small = r.names.size <= PRESENCE_MAX
  socket.emit('welcome', {
    type: 'welcome',
    id: socket.id,
    name,
    room: roomName,
    members: small ? [...r.names.values()] : [],
    memberCount: r.names.size,
    seq: r.seq,
    epoch: r.epoch,
    history: r.history
  })
  if (small) socket.to(roomName).emit('join', { type: 'join', room: roomName, name, ts: Date.now() })
  socket.on('message', (frame: { text?: unknown, cid?: unknown }) => {
    if (typeof frame?.text !== 'string') {
      socket.emit('failure', { type: 'error', code: 'invalid', message: 'bad frame' })
      return
    }
    const msg: ChatMessage = {
      type: 'message', id: randomUUID(), room: roomName, seq: ++r.seq, from: name, text: frame.text, ts: Date.now()
    }
    r.history.push(msg)
    if (r.history.length > HISTORY_SIZE) r.history.shift()
    io.to(roomName).emit('message', msg)
    if (typeof frame.cid === 'string') socket.emit('ack', { type: 'ack', cid: frame.cid, seq: msg.seq, id: msg.id, epoch: r.epoch })
  })
  socket.on('disconnect', () => {
    r.names.delete(socket.id)
    if (r.names.size < PRESENCE_MAX) io.to(roomName).emit('leave', { type: 'leave', room: roomName, name, ts: Date.now() })
    if (r.names.size === 0) rooms.delete(roomName)
  })
})

server.listen(PORT, HOST, () => process.stdout.write(`socketio-ref listening on ${HOST}:${PORT}\n`))
process.on('SIGTERM', () => process.exit(0))
