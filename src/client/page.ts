// The demo page: three panels on the client module. All user-supplied text goes through textContent.
// It asks GET /config first: with authMode "jwt" it shows a token field, and every socket trades the token for a
// one-use ticket (POST /tickets) right before each (re)connect: the token itself never goes in a URL.
import { ChatClient, defaultBase } from './chat-client.js'
import { RealtimeSocket, ticketsFrom, type StateDetail } from './realtime-socket.js'
import { TOKEN_EXPIRED } from './token.js'
import type { Entry } from './transcript.js'

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T

function li (text: string, cls?: string): HTMLLIElement {
  const el = document.createElement('li')
  el.textContent = text
  if (cls !== undefined) el.className = cls
  return el
}

function append (list: HTMLElement, el: HTMLElement): void {
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40
  list.append(el)
  while (list.children.length > 500) list.firstElementChild?.remove()
  if (atBottom) list.scrollTop = list.scrollHeight
}

/** The state badge: readyState name, a countdown while waiting to reconnect, or why the server refused. */
const badgeOwners = new Map<string, EventTarget>()
const badgeTimers = new Map<string, ReturnType<typeof setInterval>>()
function badge (name: string, target: EventTarget): void {
  const el = document.querySelector<HTMLElement>(`[data-badge="${name}"]`)!
  badgeOwners.set(name, target) // a replaced socket (re-join) must not paint over its successor
  target.addEventListener('state', (ev) => {
    if (badgeOwners.get(name) !== target) return
    const d = (ev as CustomEvent<StateDetail>).detail
    clearInterval(badgeTimers.get(name))
    if (d.refused !== undefined) {
      el.dataset.state = 'REFUSED'
      el.textContent = `REFUSED ${d.refused.status}: ${d.refused.message}`
      return
    }
    el.dataset.state = d.state
    el.textContent = d.state
    if (d.retryAt !== undefined) {
      const tick = () => { el.textContent = `${d.state} · reconnecting in ${Math.max(0, Math.ceil((d.retryAt! - Date.now()) / 1000))} s` }
      tick()
      badgeTimers.set(name, setInterval(tick, 250))
    }
  })
}

// auth: the token every socket uses (undefined while the server has auth off or none was entered)
let token: string | undefined
const ticket = ticketsFrom('/tickets')
const tokenStatus = new Map<string, { text: string, warn: boolean }>()

/** One line per panel in #auth-status: what happened to its token last. */
function tokenNote (panel: string, text: string, warn = false): void {
  tokenStatus.set(panel, { text, warn })
  $('auth-status').replaceChildren(...[...tokenStatus].map(([p, s]) => {
    const el = li(`${p}: ${s.text}`, s.warn ? 'warn' : undefined)
    el.dataset.panel = p
    return el
  }))
}

const clock = (ms: number): string => new Date(ms).toLocaleTimeString(undefined, { hour12: false })

/** Token events of a socket (or chat client) shown in #auth-status; chat and time get frames, echo only a close. */
function watchToken (panel: string, target: EventTarget, socket: RealtimeSocket): void {
  socket.addEventListener('open', () => { if (token !== undefined) tokenNote(panel, 'connected with the token') })
  socket.addEventListener('close', (ev) => {
    const d = (ev as CustomEvent<{ code: number, reason: string }>).detail
    if (d.code === TOKEN_EXPIRED.code && d.reason === TOKEN_EXPIRED.reason) tokenNote(panel, 'token expired: enter a new one', true)
  })
  target.addEventListener('expiring', (ev) => {
    const ms = (ev as CustomEvent<number>).detail
    tokenNote(panel, `token expires at ${clock(Date.now() + ms)}: enter a new one to stay connected`, true)
  })
  target.addEventListener('refreshed', (ev) => {
    tokenNote(panel, `token refreshed, valid until ${clock((ev as CustomEvent<number>).detail * 1000)}`)
  })
  target.addEventListener('refreshfailed', (ev) => {
    tokenNote(panel, `new token refused (${(ev as CustomEvent<string>).detail}); the old one still holds`, true)
  })
}

// echo: the server echoes every frame, so a new token means a reconnect, not a refresh frame
const echo = new RealtimeSocket(() => `${defaultBase()}/ws/echo`, { refresh: 'reconnect', ticket })
badge('echo', echo)
watchToken('echo', echo, echo)
echo.addEventListener('message', (ev) => append($('echo-log'), li(String((ev as CustomEvent).detail))))
$('echo-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const input = $<HTMLInputElement>('echo-input')
  if (echo.send(input.value)) input.value = ''
})

// time, with round-trip measured by ping/pong on the same socket
const time = new RealtimeSocket(() => `${defaultBase()}/ws/time`, { ticket })
badge('time', time)
watchToken('time', time, time)
let pingSent = 0
time.addEventListener('message', (ev) => {
  const f = JSON.parse(String((ev as CustomEvent).detail)) as { type: string, iso?: string, epochMs?: number }
  if (f.type === 'time' && f.epochMs !== undefined) {
    const el = $('time-now')
    el.textContent = new Date(f.epochMs).toLocaleTimeString(undefined, { hour12: false }) + '.' + String(f.epochMs % 1000).padStart(3, '0')
    el.dataset.epochMs = String(f.epochMs)
  } else if (f.type === 'pong' && pingSent > 0) {
    $('time-rtt').textContent = `${(performance.now() - pingSent).toFixed(1)} ms`
    pingSent = 0
  }
})
setInterval(() => { if (time.send('{"type":"ping"}')) pingSent = performance.now() }, 2000)
time.addEventListener('open', () => { if (time.send('{"type":"ping"}')) pingSent = performance.now() })

// chat
let chat: ChatClient | undefined
const transcript = $('transcript')

function render (entries: Entry[]): void {
  for (const e of entries) {
    if (e.kind === 'gap') { append(transcript, li(`— ${e.reason} —`, 'gap')); continue }
    const el = document.createElement('li')
    el.dataset.seq = String(e.message.seq)
    const from = document.createElement('span')
    from.className = 'from'
    from.textContent = e.message.from
    if (e.message.userId !== undefined) from.title = `user id: ${e.message.userId}`
    const text = document.createElement('span')
    text.className = 'text'
    text.textContent = e.message.text
    el.append(from, text)
    append(transcript, el)
  }
}

// A welcome shows the name the server gave (a guest name, or the token's) in the name field, unless the field was
// edited since the last join: a reconnect's welcome, or the first one arriving late, must not undo what is being typed
let nameEdited = false
$('chat-name').addEventListener('input', () => { nameEdited = true })

function join (): void {
  chat?.close()
  nameEdited = false
  transcript.replaceChildren()
  const name = $<HTMLInputElement>('chat-name').value.trim()
  const room = $<HTMLInputElement>('chat-room').value.trim() || 'lobby'
  const c = new ChatClient(room, { name, token, ticket })
  chat = c
  badge('chat', c)
  watchToken('chat', c, c.socket)
  c.addEventListener('entries', (ev) => render((ev as CustomEvent<Entry[]>).detail))
  c.addEventListener('welcome', (ev) => {
    const w = (ev as CustomEvent<{ name: string, userId?: string }>).detail
    if (!nameEdited) $<HTMLInputElement>('chat-name').value = w.name
    if (w.userId !== undefined) $('auth-user').textContent = w.userId
  })
  c.addEventListener('members', (ev) => {
    const names = (ev as CustomEvent<string[]>).detail
    $('member-count').textContent = String(names.length)
    $('members').replaceChildren(...names.map((n) => li(n)))
  })
  c.addEventListener('presence', (ev) => {
    const f = (ev as CustomEvent<{ type: string, name: string }>).detail
    append(transcript, li(`${f.name} ${f.type === 'join' ? 'joined' : 'left'}`, 'event'))
  })
  c.addEventListener('error', (ev) => {
    const f = (ev as CustomEvent<{ code: string, message: string }>).detail
    append(transcript, li(`error ${f.code}: ${f.message}`, 'event'))
  })
  c.addEventListener('outbox', (ev) => { $('outbox').textContent = String((ev as CustomEvent<number>).detail) })
  c.connect()
}

$('join-form').addEventListener('submit', (ev) => { ev.preventDefault(); join() })
$('chat-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const input = $<HTMLInputElement>('chat-input')
  const text = input.value
  if (text.trim() === '' || chat === undefined) return
  chat.send(text) // queued in the outbox until acked, even while disconnected
  input.value = ''
  input.focus()
})

/** Every socket uses `next` from now on: chat and time refresh in place, echo reconnects, refused ones try again. */
function setToken (next: string): void {
  token = next === '' ? undefined : next
  for (const [panel, target] of [['echo', echo], ['time', time], ['chat', chat]] as const) {
    if (target === undefined) continue
    tokenNote(panel, 'new token applied')
    target.setToken(token)
  }
}

$('auth-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  setToken($<HTMLInputElement>('auth-token').value.trim())
})

// GET /config first (it exposes no secret): show the token field when the server asks for one, then connect
fetch('/config').then(async (res) => {
  if (!res.ok) return
  const cfg = await res.json() as { authMode?: string }
  if (cfg.authMode === 'jwt') document.querySelectorAll<HTMLElement>('[data-auth]').forEach((el) => { el.hidden = false })
}).catch(() => {}).finally(() => {
  echo.connect()
  time.connect()
  join()
})

// for tests and curious developers
Object.assign(window, { realtime: { echo, time, get chat () { return chat }, setToken } })
