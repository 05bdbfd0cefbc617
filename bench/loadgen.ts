// The bench's load generator: a child process of bench/run.ts that takes one task at a time over
// IPC, runs it (bench/scenarios/) with its own WebSocket client (bench/lib/client.ts), and answers
// with the measured windows. It runs apart from the orchestrator so that its work is measured apart
// from the servers'. Every loop is bounded in count and time.
import type { Reply, Request, Window } from './lib/types.js'
import { crossTask } from './scenarios/cross.js'
import { echoTask } from './scenarios/echo.js'
import { fanoutTask } from './scenarios/fanout.js'
import { handshakeTask } from './scenarios/handshake.js'
import { holdTask } from './scenarios/hold.js'
import { hubIdleTask } from './scenarios/hub-idle.js'
import { idleTask } from './scenarios/idle.js'
import { timeTask } from './scenarios/time.js'

async function run (req: Request): Promise<Window[]> {
  const { target, task } = req
  switch (task.kind) {
    case 'echo': return await echoTask(target, task)
    case 'fanout': return await fanoutTask(target, task)
    case 'time': return await timeTask(target, task)
    case 'idle': return await idleTask(target, task)
    case 'hub-idle': return await hubIdleTask(target, task)
    case 'handshake': return await handshakeTask(target, task)
    case 'hold': return await holdTask(target, task)
    case 'cross': return await crossTask(target, task)
  }
}

process.on('message', (msg: Request) => {
  run(msg).then((windows) => {
    const reply: Reply = { id: msg.id, windows }
    process.send?.(reply)
  }, (err: unknown) => {
    const reply: Reply = { id: msg.id, windows: [], error: err instanceof Error ? err.message : String(err) }
    process.send?.(reply)
  })
})
process.on('disconnect', () => process.exit(0))
