import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import type { Test } from 'tap'

export const ROOT = new URL('../', import.meta.url).pathname

export interface ServerProcess {
  child: ChildProcess
  port: number
  lines: Array<Record<string, unknown>>
  stderr: () => string
  /** SIGTERM and wait for the exit code */
  stop: () => Promise<number | null>
}

/**
 * Starts the real entry (src/server.ts through tsx) as a child; resolves once it listens. PORT=0 picks a free
 * port. LOG_LEVEL stays at info or below: the 'listening' line is how the port is learnt.
 */
export async function startServer (t: Test, env: Record<string, string> = {}, fileLimit?: number): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', MAX_EVENT_LOOP_DELAY_MS: '0', ...env }, // as in testConfig
    stdio: ['ignore', 'pipe', 'pipe']
  })
  t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL') })
  const lines: Array<Record<string, unknown>> = []
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += String(d) })
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      let obj: Record<string, unknown>
      try { obj = JSON.parse(line) as Record<string, unknown> } catch { return }
      lines.push(obj)
      const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(String(obj.msg))
      if (m !== null) resolve(Number(m[1]))
    })
    child.once('exit', (code) => reject(new Error(`server exited ${String(code)}: ${stderr}`)))
  })
  // a lower open-file limit for fault tests, set once the server listens (Node cannot set its own): a limit
  // set before boot races the module loader, which opens many files at once under tap's and tsx's hooks
  if (fileLimit !== undefined) execFileSync('prlimit', ['--pid', String(child.pid), `--nofile=${fileLimit}`])
  const stop = async () => {
    if (child.exitCode !== null) return child.exitCode
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const [code] = await exited as [number | null]
    return code
  }
  return { child, port, lines, stderr: () => stderr, stop }
}

/**
 * A suite that needs a Debian package: true when `present`. Otherwise a loud skip on a developer's machine
 * and a failure in CI (CI set and not "false"), so a missing tool never passes silently there.
 */
export function requireTool (t: Test, present: boolean, why: string, what: string): boolean {
  if (present) return true
  if (process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false') t.fail(why)
  else {
    console.error(`\n!!! SKIPPING ${what} TESTS: ${why}\n`)
    t.skip(why, () => {})
  }
  return false
}
