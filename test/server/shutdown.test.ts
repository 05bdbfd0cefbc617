import { spawn } from 'node:child_process'
import { once } from 'node:events'
import t from 'tap'
import { closed, connect } from '../helper.js'
import { ROOT, startServer } from '../server-process.js'

t.test('SIGTERM: sockets closed with 1001, process exits 0', async (t) => {
  const { child, port, lines } = await startServer(t)
  const echo = await connect(t, `ws://127.0.0.1:${port}/ws/echo`)
  const chat = await connect(t, `ws://127.0.0.1:${port}/ws/chat?name=Z`)
  await chat.frames.next('welcome')
  const echoClosed = closed(echo.ws)
  const chatClosed = closed(chat.ws)
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  t.same(await echoClosed, [1001, 'server shutting down'])
  t.same(await chatClosed, [1001, 'server shutting down'])
  const [code] = await exited
  t.equal(code, 0, 'exit code 0')
  t.ok(lines.some((l) => l.msg === 'ws connected' && l.route === 'echo' && typeof l.connId === 'string' && typeof l.ip === 'string'), 'connect logged')
  t.ok(lines.some((l) => l.msg === 'ws closed' && l.code === 1001 && typeof l.durationMs === 'number'), 'close logged with code and duration')
})

t.test('SIGTERM with a peer that never answers the close: exit within SHUTDOWN_TIMEOUT_MS', async (t) => {
  const timeoutMs = 2000
  const { child, port, lines } = await startServer(t, { SHUTDOWN_TIMEOUT_MS: String(timeoutMs) })
  const stuck = await connect(t, `ws://127.0.0.1:${port}/ws/echo`)
  ;(stuck.ws as unknown as { _socket: { pause (): void } })._socket.pause() // never reads the close frame
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const [code] = await exited
  const exitSeen = Date.now()
  t.equal(code, 0, 'the stuck peer was terminated after the grace period, not by the forced exit')
  // the contract counts from the moment the process starts shutting down (its own log line), not from kill():
  // signal delivery and seeing the exit take a moment of their own on a loaded machine, hence the margin.
  // A peer that held shutdown would keep the process up for ws's 30 s close timeout.
  const start = lines.find((l) => l.msg === 'shutting down')
  t.type(start?.time, 'number', 'the shutdown was logged')
  const took = exitSeen - Number(start?.time)
  t.ok(took < timeoutMs + 3000, `exited ${took} ms after it began shutting down (SHUTDOWN_TIMEOUT_MS ${timeoutMs} + 3000 ms margin)`)
})

t.test('bad settings stop the boot with one line naming the variable', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT, env: { ...process.env, PORT: 'eighty' }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += String(d) })
  const [code] = await once(child, 'exit')
  t.equal(code, 1)
  t.match(stderr, /^config error: invalid PORT="eighty": /)
  t.notMatch(stderr, /at .*\(/, 'no stack trace')
})
