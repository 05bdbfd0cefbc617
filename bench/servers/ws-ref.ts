// Bare `ws` reference server for the bench: the same endpoints and JSON frames as the service,
// written the obvious way (one JSON.stringify per message, then client.send() to each member).
// Not hardened: no limits beyond ws's, no heartbeat. Settings from the environment:
// PORT, HOST, HISTORY_SIZE (100), PRESENCE_EVENTS_MAX_MEMBERS (1000), PERMESSAGE_DEFLATE (0).
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer } from 'node:http'
import { WebSocketServer, WebSocket } from 'ws'

const PORT = Number(process.env.PORT ?? 3100)
const HOST = process.env.HOST ?? '127.0.0.1'
const HISTORY_SIZE = Number(process.env.HISTORY_SIZE ?? 100)
const PRESENCE_MAX = Number(process.env.PRESENCE_EVENTS_MAX_MEMBERS ?? 1000)
const DEFLATE = process.env.PERMESSAGE_DEFLATE === '1'

interface Member { ws: WebSocket, id: string, name: string }
interface ChatMessage { type: 'message', id: string, room: string, seq: number, from: string, text: string, ts: number }
interface Room { members: Set<Member>, seq: number, epoch: string, history: ChatMessage[] }

const rooms = new Map<string, Room>()
const timeGroups = new Map<number, Set<WebSocket>>()
const timers = new Map<number, NodeJS.Timeout>()

const server = createServer((req, res) => {
  if (req.url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end('{"status":"ok"}')
    return
  }
  res.writeHead(404).end()
})
const wss = new WebSocketServer({ noServer: true, clientTracking: false, perMessageDeflate: DEFLATE, maxPayload: 65536 })

server.on('upgrade', (req, socket, head) => {
  const url = new URL(req.url ?? '/', 'http://localhost')
  const path = url.pathname
  if (path === '/ws/echo') {
    wss.handleUpgrade(req, socket, head, onEcho)
  } else if (path === '/ws/time') {
    const interval = Number(url.searchParams.get('interval') ?? 1000)
    wss.handleUpgrade(req, socket, head, (ws) => onTime(ws, interval))
  } else if (path.startsWith('/ws/chat/')) {
    const room = path.slice('/ws/chat/'.length)
    const name = url.searchParams.get('name') ?? `guest-${randomBytes(2).toString('hex')}`
    wss.handleUpgrade(req, socket, head, (ws) => onChat(ws, room, name))
  } else if (path === '/ws/hub') {
    const name = url.searchParams.get('name') ?? `guest-${randomBytes(2).toString('hex')}`
    wss.handleUpgrade(req, socket, head, (ws) => onHub(ws, name))
  } else {
    socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n')
  }
})

function onEcho (ws: WebSocket): void {
  ws.on('error', () => {})
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }))
}

function timeFrame (): string {
  const now = Date.now()
  return JSON.stringify({ type: 'time', iso: new Date(now).toISOString(), epochMs: now })
}

function onTime (ws: WebSocket, interval: number): void {
  ws.on('error', () => {})
  let group = timeGroups.get(interval)
  if (group === undefined) {
    const members = new Set<WebSocket>()
    group = members
    timeGroups.set(interval, members)
    timers.set(interval, setInterval(() => {
      const frame = timeFrame()
      for (const client of members) if (client.readyState === WebSocket.OPEN) client.send(frame)
    }, interval))
  }
  group.add(ws)
  ws.send(timeFrame())
  ws.on('close', () => {
    group.delete(ws)
    if (group.size === 0) {
      clearInterval(timers.get(interval))
      timers.delete(interval)
      timeGroups.delete(interval)
    }
  })
}

function broadcast (room: Room, data: string, except?: Member): void {
  for (const m of room.members) {
    if (m !== except && m.ws.readyState === WebSocket.OPEN) m.ws.send(data)
  }
}

function roomOf (roomName: string): Room {
  let room = rooms.get(roomName)
  if (room === undefined) {
    room = { members: new Set(), seq: 0, epoch: randomBytes(6).toString('base64url'), history: [] }
    rooms.set(roomName, room)
  }
  return room
}

/** Stores and broadcasts one chat message (serialised once), as the service does. */
function post (r: Room, roomName: string, from: string, text: string): ChatMessage {
  const msg: ChatMessage = { type: 'message', id: randomUUID(), room: roomName, seq: ++r.seq, from, text, ts: Date.now() }
  r.history.push(msg)
  if (r.history.length > HISTORY_SIZE) r.history.shift()
  broadcast(r, JSON.stringify(msg))
  return msg
}

function leave (r: Room, roomName: string, me: Member): void {
  r.members.delete(me)
  if (r.members.size < PRESENCE_MAX) broadcast(r, JSON.stringify({ type: 'leave', room: roomName, name: me.name, ts: Date.now() }))
  if (r.members.size === 0) rooms.delete(roomName)
}

function onChat (ws: WebSocket, roomName: string, name: string): void {
  ws.on('error', () => {})
  const r = roomOf(roomName)
  const me: Member = { ws, id: randomUUID(), name }
  r.members.add(me)
  // presence (names list and join/leave events) only while the room is small: big rooms stay linear
  const small = r.members.size <= PRESENCE_MAX
  const names: string[] = []
  if (small) for (const m of r.members) names.push(m.name)
  ws.send(JSON.stringify({
    type: 'welcome',
    id: me.id,
    name,
    room: roomName,
    members: names,
    memberCount: r.members.size,
    seq: r.seq,
    epoch: r.epoch,
    history: r.history
  }))
  if (small) broadcast(r, JSON.stringify({ type: 'join', room: roomName, name, ts: Date.now() }), me)

  ws.on('message', (data, isBinary) => {
    if (isBinary) return
    const raw = String(data)
    let text: unknown = raw
    let cid: unknown
    if (raw.charCodeAt(0) === 0x7b) {
      let frame: Record<string, unknown>
      try {
        frame = JSON.parse(raw) as Record<string, unknown>
      } catch {
        frame = { type: 'message', text: raw }
      }
      if (frame.type === 'ping') {
        ws.send(JSON.stringify({ type: 'pong', ts: Date.now() }))
        return
      }
      if (frame.type !== 'message' || typeof frame.text !== 'string') {
        ws.send(JSON.stringify({ type: 'error', code: 'invalid', message: 'bad frame' }))
        return
      }
      text = frame.text
      cid = frame.cid
    }
    const msg = post(r, roomName, name, text as string)
    if (typeof cid === 'string') ws.send(JSON.stringify({ type: 'ack', cid, seq: msg.seq, id: msg.id, epoch: r.epoch }))
  })
  ws.on('close', () => leave(r, roomName, me))
}

/**
 * The multi-room socket, only as far as the bench uses it: subscribe (subscribed frame with seq, epoch,
 * members and history; join presence as in chat) and publish of text (broadcast, then ack). One Member per
 * socket, in the member set of every room it is subscribed to, as a chat socket is in its one room.
 */
function onHub (ws: WebSocket, name: string): void {
  ws.on('error', () => {})
  const me: Member = { ws, id: randomUUID(), name }
  const mine = new Map<string, Room>()
  ws.on('message', (data, isBinary) => {
    if (isBinary) return
    let frame: Record<string, unknown>
    try {
      frame = JSON.parse(String(data)) as Record<string, unknown>
    } catch {
      frame = {}
    }
    const roomName = frame.room
    if (typeof roomName !== 'string') {
      ws.send(JSON.stringify({ type: 'error', ref: frame.ref, code: 'invalid', message: 'bad frame' }))
      return
    }
    if (frame.type === 'subscribe' && !mine.has(roomName)) {
      const r = roomOf(roomName)
      r.members.add(me)
      mine.set(roomName, r)
      const small = r.members.size <= PRESENCE_MAX
      const names: string[] = []
      if (small) for (const m of r.members) names.push(m.name)
      ws.send(JSON.stringify({
        type: 'subscribed', ref: frame.ref, room: roomName, seq: r.seq, epoch: r.epoch, members: names, memberCount: r.members.size, history: r.history
      }))
      if (small) broadcast(r, JSON.stringify({ type: 'join', room: roomName, name, ts: Date.now() }), me)
      return
    }
    const r = mine.get(roomName)
    if (frame.type === 'publish' && r !== undefined && typeof frame.text === 'string') {
      const msg = post(r, roomName, name, frame.text)
      ws.send(JSON.stringify({ type: 'ack', ref: frame.ref, room: roomName, seq: msg.seq, id: msg.id, epoch: r.epoch }))
      return
    }
    ws.send(JSON.stringify({ type: 'error', ref: frame.ref, code: 'invalid', message: 'bad frame' }))
  })
  ws.on('close', () => { for (const [roomName, r] of mine) leave(r, roomName, me) })
}

server.listen(PORT, HOST, () => process.stdout.write(`ws-ref listening on ${HOST}:${PORT}\n`))
process.on('SIGTERM', () => process.exit(0))
