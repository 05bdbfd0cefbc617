// The demo page: many chat rooms on one /ws/hub socket (RealtimeClient), plus echo and server time. All
// user-supplied text goes through textContent. GET /config first: the message limit, and with authMode "jwt" a
// token field; every socket then trades the token for a one-use ticket right before each (re)connect.
import { defaultBase } from './chat-client.js'
import { RealtimeClient, type HubMessage, type RoomInfo } from './realtime-client.js'
import { RealtimeSocket, ticketsFrom, type StateDetail } from './realtime-socket.js'
import { TOKEN_EXPIRED } from './token.js'
import { dayLabel, fullTime, groupsWith, shortTime, stateText } from './page-format.js'

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T

function el<K extends keyof HTMLElementTagNameMap> (tag: K, cls?: string, text?: string): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag)
  if (cls !== undefined) e.className = cls
  if (text !== undefined) e.textContent = text
  return e
}

// ---------------------------------------------------------------------------------------------------------------
// announcements: one polite live region, each state change said once

let lastSaid = ''
/** the latest announcements, for tests */
const said: string[] = []
function announce (text: string): void {
  if (text === lastSaid) return
  lastSaid = text
  said.push(text)
  if (said.length > 50) said.shift()
  $('announcer').textContent = text
}

// ---------------------------------------------------------------------------------------------------------------
// state badges and honest controls

/** The state badge: readyState name, a countdown while waiting to reconnect, or why the server refused. */
const badgeTimers = new Map<string, ReturnType<typeof setInterval>>()
const states = new Map<string, StateDetail>()
function watchState (name: string, label: string, target: EventTarget, onChange: () => void): void {
  const badge = document.querySelector<HTMLElement>(`[data-badge="${name}"]`)!
  target.addEventListener('state', (ev) => {
    const d = (ev as CustomEvent<StateDetail>).detail
    const before = states.get(name)
    states.set(name, d)
    clearInterval(badgeTimers.get(name))
    const paint = () => {
      const s = stateText(d, Date.now())
      badge.dataset.state = s.kind
      badge.textContent = s.badge
    }
    paint()
    if (d.retryAt !== undefined) badgeTimers.set(name, setInterval(paint, 250))
    if (before?.state !== d.state || before.retryAt !== d.retryAt || before.refused !== d.refused) {
      announce(`${label}: ${stateText(d, Date.now()).sentence}`)
    }
    onChange()
  })
}

/** Why a form cannot send now (undefined: it can). */
function blocked (name: string): string | undefined {
  const d = states.get(name)
  if (d === undefined) return 'Not connected yet.'
  if (d.state === 'OPEN') return undefined
  return `Cannot send: ${stateText(d, Date.now()).sentence}`
}

function setEnabled (input: HTMLInputElement, button: HTMLButtonElement, hint: HTMLElement, reason: string | undefined, okHint: string): void {
  input.disabled = reason !== undefined
  button.disabled = reason !== undefined
  hint.textContent = reason ?? okHint
}

// ---------------------------------------------------------------------------------------------------------------
// auth: the token every socket uses (undefined while the server has auth off or none was entered)

let token: string | undefined
let maxLength = 2000
const ticket = ticketsFrom('/tickets')
const tokenStatus = new Map<string, { text: string, warn: boolean }>()

/** One line per panel in #auth-status: what happened to its token last. */
function tokenNote (panel: string, text: string, warn = false): void {
  tokenStatus.set(panel, { text, warn })
  $('auth-status').replaceChildren(...[...tokenStatus].map(([p, s]) => {
    const li = el('li', s.warn ? 'warn' : undefined, `${p}: ${s.text}`)
    li.dataset.panel = p
    return li
  }))
  announce(`${panelLabel(panel)}: ${text}`)
}
const panelLabel = (panel: string): string => panel === 'chat' ? 'rooms' : panel

/** Token events of a socket shown in #auth-status; chat and time get frames, echo only a close. */
function watchToken (panel: string, target: EventTarget, socket: RealtimeSocket): void {
  socket.addEventListener('open', () => { if (token !== undefined) tokenNote(panel, 'connected with the token') })
  socket.addEventListener('close', (ev) => {
    const d = (ev as CustomEvent<{ code: number, reason: string }>).detail
    if (d.code === TOKEN_EXPIRED.code) tokenNote(panel, 'token expired: enter a new one', true)
  })
  target.addEventListener('expiring', (ev) => {
    const ms = (ev as CustomEvent<number>).detail
    tokenNote(panel, `token expires at ${shortTime(Date.now() + ms, true)}: enter a new one to stay connected`, true)
  })
  target.addEventListener('refreshed', (ev) => {
    tokenNote(panel, `token refreshed, valid until ${shortTime((ev as CustomEvent<number>).detail * 1000, true)}`)
  })
  target.addEventListener('refreshfailed', (ev) => {
    tokenNote(panel, `new token refused (${(ev as CustomEvent<string>).detail}); the old one still holds`, true)
  })
}

// ---------------------------------------------------------------------------------------------------------------
// echo: the server echoes every frame, so a new token means a reconnect, not a refresh frame

const echo = new RealtimeSocket(() => `${defaultBase()}/ws/echo`, { refresh: 'reconnect', ticket })
const echoControls = () => setEnabled($<HTMLInputElement>('echo-input'), $<HTMLButtonElement>('echo-send'), $('echo-hint'), blocked('echo'), 'Sent to the server and back.')
watchState('echo', 'Echo', echo, echoControls)
watchToken('echo', echo, echo)
echo.addEventListener('message', (ev) => {
  const log = $('echo-log')
  log.append(el('li', undefined, String((ev as CustomEvent).detail)))
  while (log.children.length > 50) log.firstElementChild?.remove()
  log.scrollTop = log.scrollHeight
})
$('echo-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const input = $<HTMLInputElement>('echo-input')
  if (echo.send(input.value)) input.value = ''
  else echoControls() // closed since the last state change: say so instead of dropping it
})

// time, with round-trip measured by ping/pong on the same socket
const time = new RealtimeSocket(() => `${defaultBase()}/ws/time`, { ticket })
watchState('time', 'Server time', time, () => {})
watchToken('time', time, time)
let pingSent = 0
time.addEventListener('message', (ev) => {
  const f = JSON.parse(String((ev as CustomEvent).detail)) as { type: string, epochMs?: number }
  if (f.type === 'time' && f.epochMs !== undefined) {
    const out = $('time-now')
    out.textContent = shortTime(f.epochMs, true) + '.' + String(f.epochMs % 1000).padStart(3, '0')
    out.dataset.epochMs = String(f.epochMs)
  } else if (f.type === 'pong' && pingSent > 0) {
    $('time-rtt').textContent = `${(performance.now() - pingSent).toFixed(1)} ms`
    pingSent = 0
  }
})
setInterval(() => { if (time.send('{"type":"ping"}')) pingSent = performance.now() }, 2000)
time.addEventListener('open', () => { if (time.send('{"type":"ping"}')) pingSent = performance.now() })

// ---------------------------------------------------------------------------------------------------------------
// rooms: one RealtimeClient, one transcript per room

interface Events { typing: { on: boolean } }

interface RoomView {
  name: string
  /** the scrolling role=log box, and the list in it */
  box: HTMLDivElement
  list: HTMLOListElement
  /** items waiting for the end of the task */
  pending: DocumentFragment
  flushing: boolean
  last: { from: string, ts: number } | undefined
  unread: number
  /** the oldest seq shown (for "load older") and the epoch it belongs to */
  oldest: number | undefined
  epoch: string | undefined
  olderDone: boolean
  ids: Set<string>
  count: number
  typing: Map<string, ReturnType<typeof setTimeout>>
  /** ms from the first subscribed frame to the frame after its messages were laid out (measured by the e2e suite) */
  firstRenderMs: number | undefined
}

const views = new Map<string, RoomView>()
let shown: string | undefined
/** ids of this page's own messages (from acks), and the names it has published under */
const ownIds = new Set<string>()
const ownNames = new Set<string>()
let userId: string | undefined
const GROUP_MS = 5 * 60_000
const KEEP = 500
let roomsOnServer: Array<{ room: string, members: number }> = []

const nameInput = $<HTMLInputElement>('chat-name')
nameInput.value = localStorage.getItem('rt-name') ?? `guest-${Math.random().toString(36).slice(2, 6)}`
const hub = new RealtimeClient<Events>({ name: nameInput.value, ticket, token: () => token })

const composerControls = (): void => {
  const reason = shown === undefined ? 'Join a room to write.' : blocked('chat')
  setEnabled($<HTMLInputElement>('composer-input'), $<HTMLButtonElement>('composer-send'), $('composer-hint'), reason,
    `Up to ${maxLength} characters; Enter sends.`)
}
watchState('chat', 'Rooms', hub, composerControls)
watchToken('chat', hub, hub.socket)

const isOwn = (m: HubMessage<Events>): boolean =>
  ownIds.has(m.id) || (userId !== undefined ? m.userId === userId : ownNames.has(m.from))

/** One message as a list item: sender (hidden when grouped, still read out), local time, text. */
function messageItem (m: HubMessage<Events>, grouped: boolean): HTMLLIElement {
  const li = el('li', 'msg')
  li.dataset.seq = String(m.seq)
  li.dataset.id = m.id
  li.dataset.from = m.from
  li.dataset.ts = String(m.ts)
  const own = isOwn(m)
  if (own) li.classList.add('own')
  if (grouped) li.classList.add('cont')
  const meta = el('div', 'meta')
  const from = el('span', grouped ? 'from sr-only' : 'from', m.from)
  if (m.userId !== undefined) from.title = `user id: ${m.userId}`
  meta.append(from)
  if (own) meta.append(el('span', grouped ? 'you sr-only' : 'you', ' (you)'))
  const time = el('time', undefined, dayLabel(m.ts, Date.now()) ?? shortTime(m.ts))
  time.dateTime = new Date(m.ts).toISOString()
  time.title = fullTime(m.ts)
  meta.append(time)
  const text = el('p', 'text', m.text ?? JSON.stringify(m.data))
  li.append(meta, text)
  return li
}

/** The last message appended (waiting or shown), to group the next one with; undefined after a gap or an event. */
function groupsAfter (v: RoomView, m: HubMessage<Events>): boolean {
  return v.last !== undefined && groupsWith(v.last, m, GROUP_MS)
}

/**
 * Appends a message. A subscribe delivers a whole history in one task: items gather in a fragment and go into the
 * document once, at the end of the task, so the layout is computed once rather than once per message.
 */
function appendMessage (v: RoomView, m: HubMessage<Events>): void {
  if (v.ids.has(m.id)) return
  v.ids.add(m.id)
  v.pending.append(messageItem(m, groupsAfter(v, m)))
  v.last = { from: m.from, ts: m.ts }
  if (v.oldest === undefined) v.oldest = m.seq
  if (shown !== v.name) v.unread++
  schedule(v)
}

function appendOther (v: RoomView, li: HTMLLIElement): void {
  v.pending.append(li)
  v.last = undefined
  schedule(v)
}

function appendGap (v: RoomView, reason: string): void {
  appendOther(v, el('li', 'gap', `— ${reason} —`))
}

function schedule (v: RoomView): void {
  if (v.flushing) return
  v.flushing = true
  queueMicrotask(() => flush(v))
}

function flush (v: RoomView): void {
  v.flushing = false
  const { box, list } = v
  const atBottom = box.hidden || box.scrollHeight - box.scrollTop - box.clientHeight < 40
  list.append(v.pending)
  const extra = list.children.length - KEEP
  if (extra > 0) {
    for (let i = 0; i < extra; i++) list.firstElementChild?.remove()
    v.olderDone = false // what was dropped here can be loaded again
    v.oldest = Number((list.querySelector('li.msg') as HTMLElement | null)?.dataset.seq ?? v.oldest)
  }
  if (atBottom) box.scrollTop = box.scrollHeight
  if (shown !== v.name) paintRooms()
}

function viewFor (name: string): RoomView {
  let v = views.get(name)
  if (v !== undefined) return v
  const box = el('div', 'transcript')
  box.id = `transcript-${name}`
  box.setAttribute('role', 'log')
  box.setAttribute('aria-label', `Messages in ${name}`)
  box.tabIndex = 0 // scrollable: reachable by keyboard
  box.hidden = true
  const list = el('ol', 'log')
  box.append(list)
  $('transcripts').append(box)
  const pending = document.createDocumentFragment()
  v = { name, box, list, pending, flushing: false, last: undefined, unread: 0, oldest: undefined, epoch: undefined, olderDone: false, ids: new Set(), count: 0, typing: new Map(), firstRenderMs: undefined }
  views.set(name, v)
  return v
}

/** Joins (and shows) a room; `from`: resume from a position saved earlier instead of the whole held history. */
async function join (name: string, from: { since?: number, epoch?: string } = {}): Promise<void> {
  if (views.has(name)) { show(name); return }
  const v = viewFor(name)
  show(name)
  paintRooms()
  // a refused subscribe rejects (the catch below); once subscribed, an error means the server left the room
  let subscribed = false
  try {
    await hub.subscribe(name, {
      subscribed: (info: RoomInfo) => {
        subscribed = true
        if (!info.resumed) {
          // its history is appended right after this, in the same task: the next frame shows it
          const start = performance.now()
          requestAnimationFrame(() => setTimeout(() => { v.firstRenderMs = performance.now() - start }, 0))
        }
        v.epoch = info.epoch
        v.count = info.memberCount
        if (shown === name) paintRoomHead()
        paintRooms()
        if (info.resumed) announce(`Rooms: ${name} resumed${info.truncated ? ', some messages were missed' : ''}`)
        else announce(`Joined ${name}`)
      },
      message: (m) => appendMessage(v, m),
      gap: (reason) => appendGap(v, reason),
      presence: (f) => {
        v.count = hub.members(name)?.count ?? v.count
        if (shown === name) paintRoomHead()
        paintRooms()
        appendOther(v, el('li', 'event', `${f.name} ${f.type === 'join' ? 'joined' : 'left'}`))
      },
      signal: (s) => { if (s.event === 'typing') typingFrom(v, s.from, s.data.on) },
      error: (err) => {
        if (!subscribed) return
        dropView(name)
        announce(`Removed from ${name}: ${err.message}`)
      }
    }, from)
  } catch (err) {
    dropView(name)
    announce(`Could not join ${name}: ${(err as Error).message}`)
  }
}

function dropView (name: string): void {
  const v = views.get(name)
  if (v === undefined) return
  v.box.remove()
  for (const t of v.typing.values()) clearTimeout(t)
  views.delete(name)
  if (shown === name) show([...views.keys()][0])
  paintRooms()
}

async function leave (name: string): Promise<void> {
  dropView(name)
  announce(`Left ${name}`)
  await hub.unsubscribe(name).catch(() => {})
}

function show (name: string | undefined): void {
  shown = name
  for (const v of views.values()) v.box.hidden = v.name !== name
  const v = name === undefined ? undefined : views.get(name)
  if (v !== undefined) {
    const had = v.unread
    v.unread = 0
    v.box.scrollTop = v.box.scrollHeight
    announce(`Showing ${v.name}${had > 0 ? `, ${had} new` : ''}`)
  }
  paintRoomHead()
  paintRooms()
  paintTyping()
  composerControls()
}

function paintRoomHead (): void {
  const v = shown === undefined ? undefined : views.get(shown)
  $('room-h').textContent = v === undefined ? 'No room joined' : v.name
  $('member-count').textContent = v === undefined ? '' : `${v.count} ${v.count === 1 ? 'member' : 'members'}`
  $('leave').hidden = v === undefined
  $('older').hidden = v === undefined || v.olderDone
}

/** Joined rooms (with unread counts) and the server's other rooms (with member counts), as buttons. */
function paintRooms (): void {
  const focused = document.activeElement instanceof HTMLElement ? document.activeElement.dataset.room : undefined
  const joined = [...views.values()].map((v) => {
    const b = el('button', 'room')
    b.type = 'button'
    b.dataset.room = v.name
    if (v.name === shown) b.setAttribute('aria-current', 'true')
    b.append(el('span', 'name', v.name), el('span', 'count', `${v.count} ${v.count === 1 ? 'member' : 'members'}`))
    if (v.unread > 0) b.append(el('span', 'unread', `${v.unread} unread`))
    b.addEventListener('click', () => show(v.name))
    const li = el('li')
    li.append(b)
    return li
  })
  const others = roomsOnServer.filter((r) => !views.has(r.room)).map((r) => {
    const b = el('button', 'room')
    b.type = 'button'
    b.dataset.room = r.room
    b.dataset.join = ''
    b.append(el('span', 'name', `Join ${r.room}`), el('span', 'count', `${r.members} ${r.members === 1 ? 'member' : 'members'}`))
    b.addEventListener('click', () => { join(r.room).catch(() => {}) })
    const li = el('li')
    li.append(b)
    return li
  })
  $('joined').replaceChildren(...joined)
  $('others').replaceChildren(...others)
  if (joined.length === 0) $('joined').append(el('li', 'hint', 'None yet'))
  if (others.length === 0) $('others').append(el('li', 'hint', 'None'))
  // a repaint must not throw the keyboard user's focus away
  if (focused !== undefined) document.querySelector<HTMLElement>(`.rooms [data-room="${CSS.escape(focused)}"]`)?.focus()
}

async function refreshRoomList (): Promise<void> {
  try {
    const res = await fetch('/rooms?limit=100', { headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, cache: 'no-store' })
    if (!res.ok) return
    roomsOnServer = (await res.json() as Array<{ room: string, members: number }>).filter((r) => !r.room.startsWith('@'))
    paintRooms()
  } catch {}
}

// typing indicators: a signal at most every 2 s while typing; shown for 4 s after the last one
const TYPING_SHOW_MS = 4000
let lastTypingSent = 0
function typingFrom (v: RoomView, from: string, on: boolean): void {
  clearTimeout(v.typing.get(from))
  if (on) v.typing.set(from, setTimeout(() => { v.typing.delete(from); paintTyping() }, TYPING_SHOW_MS))
  else v.typing.delete(from)
  paintTyping()
}
function paintTyping (): void {
  const v = shown === undefined ? undefined : views.get(shown)
  const who = v === undefined ? [] : [...v.typing.keys()]
  const text = who.length === 0 ? '' : who.length === 1 ? `${who[0]!} is typing…` : who.length === 2 ? `${who[0]!} and ${who[1]!} are typing…` : `${who.length} people are typing…`
  if ($('typing').textContent !== text) $('typing').textContent = text
}

$('composer-input').addEventListener('input', () => {
  if (shown === undefined || Date.now() - lastTypingSent < 2000) return
  if (hub.signal(shown, 'typing', { on: true })) lastTypingSent = Date.now()
})

$('composer').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const input = $<HTMLInputElement>('composer-input')
  const text = input.value
  const room = shown
  if (text.trim() === '' || room === undefined) return
  if (!hub.open) { composerControls(); return }
  input.value = ''
  input.focus()
  if (lastTypingSent > 0) { hub.signal(room, 'typing', { on: false }); lastTypingSent = 0 }
  hub.publish(room, { text }).then((ack) => {
    ownIds.add(ack.id)
    const mine = views.get(room)?.list.querySelector<HTMLElement>(`[data-id="${CSS.escape(ack.id)}"]`)
    if (mine !== null && mine !== undefined) {
      ownNames.add(mine.dataset.from ?? '')
      mine.classList.add('own')
    }
  }, (err: Error) => announce(`Not sent to ${room}: ${err.message}`))
})

$('join-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const input = $<HTMLInputElement>('chat-room')
  const name = input.value.trim()
  if (!input.checkValidity() || name === '') return
  input.value = ''
  join(name).catch(() => {})
})

$('name-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  const name = nameInput.value.trim()
  if (name === '' || name === hub.name) return
  localStorage.setItem('rt-name', name)
  hub.name = name
  ownNames.add(name)
  announce(`Name set to ${name}: reconnecting`)
  hub.socket.close(1000, 'renamed')
  hub.connect() // every room resumes where it was
})

$('leave').addEventListener('click', () => { if (shown !== undefined) leave(shown).catch(() => {}) })

$('older').addEventListener('click', () => { loadOlder().catch(() => {}) })
async function loadOlder (): Promise<void> {
  const v = shown === undefined ? undefined : views.get(shown)
  if (v === undefined) return
  const q = new URLSearchParams({ limit: '50' })
  if (v.oldest !== undefined) q.set('before', String(v.oldest))
  if (v.epoch !== undefined) q.set('epoch', v.epoch)
  const res = await fetch(`/rooms/${encodeURIComponent(v.name)}/history?${q.toString()}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` }, cache: 'no-store'
  })
  if (!res.ok) { announce(`Could not load older messages (${res.status})`); return }
  const page = await res.json() as { truncated: boolean, messages: Array<HubMessage<Events>> }
  const fresh = page.messages.filter((m) => !v.ids.has(m.id))
  const frag = document.createDocumentFragment()
  let prev: HubMessage<Events> | undefined
  for (const m of fresh) {
    v.ids.add(m.id)
    frag.append(messageItem(m, prev !== undefined && groupsWith(prev, m, GROUP_MS)))
    prev = m
  }
  const height = v.box.scrollHeight
  v.list.prepend(frag)
  v.box.scrollTop += v.box.scrollHeight - height // keep what was being read in place
  if (fresh[0] !== undefined) v.oldest = fresh[0].seq
  if (page.truncated || page.messages.length < 50 || v.oldest === 1) {
    v.olderDone = true
    v.list.prepend(el('li', 'event', page.truncated && v.oldest !== 1 ? 'Older messages are no longer held' : 'Start of the room'))
  }
  paintRoomHead()
  announce(fresh.length === 0 ? 'No older messages' : `${fresh.length} older messages loaded`)
  if (v.olderDone) v.box.focus()
}

// keyboard: Alt+ArrowUp / Alt+ArrowDown switch between joined rooms
document.addEventListener('keydown', (ev) => {
  if (!ev.altKey || (ev.key !== 'ArrowUp' && ev.key !== 'ArrowDown')) return
  const names = [...views.keys()]
  if (names.length < 2 || shown === undefined) return
  ev.preventDefault()
  const i = names.indexOf(shown)
  show(names[(i + (ev.key === 'ArrowDown' ? 1 : names.length - 1)) % names.length])
})

hub.addEventListener('subscribed', (ev) => {
  // the server's own subscription (the personal stream): its room name carries this user's id
  const room = (ev as CustomEvent<{ room: string }>).detail.room
  if (room.startsWith('@')) { userId = room.slice(1); $('auth-user').textContent = userId }
})

/** Every socket uses `next` from now on: the hub and time refresh in place, echo reconnects, refused ones try again. */
function setToken (next: string): void {
  token = next === '' ? undefined : next
  for (const [panel, target] of [['echo', echo], ['time', time], ['chat', hub]] as const) {
    tokenNote(panel, 'new token applied')
    target.setToken(token)
  }
  refreshRoomList().catch(() => {})
}

$('auth-form').addEventListener('submit', (ev) => {
  ev.preventDefault()
  setToken($<HTMLInputElement>('auth-token').value.trim())
})

// GET /config first (it exposes no secret): the limits, and the token field when the server asks for one
fetch('/config').then(async (res) => {
  if (!res.ok) return
  const cfg = await res.json() as { authMode?: string, chatMaxLength?: number }
  if (typeof cfg.chatMaxLength === 'number') {
    maxLength = cfg.chatMaxLength
    $<HTMLInputElement>('composer-input').maxLength = maxLength
  }
  if (cfg.authMode === 'jwt') document.querySelectorAll<HTMLElement>('[data-auth]').forEach((e) => { e.hidden = false })
}).catch(() => {}).finally(() => {
  echo.connect()
  time.connect()
  hub.connect()
  ownNames.add(nameInput.value)
  composerControls()
  const first = new URLSearchParams(location.search).get('room') ?? 'lobby'
  join(first).catch(() => {})
  refreshRoomList().catch(() => {})
  setInterval(() => { refreshRoomList().catch(() => {}) }, 5000)
})

// for tests and curious developers
Object.assign(window, { realtime: { echo, time, hub, views, join, show, setToken, said } })
