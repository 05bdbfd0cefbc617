import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import t, { type Test } from 'tap'
import { closed, connect } from '../helper.js'

const ROOT = new URL('../../', import.meta.url).pathname

/** Starts the real entry (src/server.ts through tsx) on a free port; resolves with its port once listening. */
async function startServer (t: Test, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += String(d) })
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const obj = JSON.parse(line) as Record<string, unknown>
        lines.push(obj)
        const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(String(obj.msg))
        if (m !== null) resolve(Number(m[1]))
      } catch {}
    })
    child.once('exit', (code) => reject(new Error(`server exited ${String(code)}: ${stderr}`)))
  })
  return { child, port, lines, stderr: () => stderr }
}

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
  const { child, port } = await startServer(t, { SHUTDOWN_TIMEOUT_MS: '2000' })
  const stuck = await connect(t, `ws://127.0.0.1:${port}/ws/echo`)
  ;(stuck.ws as unknown as { _socket: { pause (): void } })._socket.pause() // never reads the close frame
  const started = Date.now()
  const exited = once(child, 'exit')
  child.kill('SIGTERM')
  const [code] = await exited
  t.equal(code, 0)
  t.ok(Date.now() - started < 2000 + 1000, `exited in ${Date.now() - started} ms`)
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
