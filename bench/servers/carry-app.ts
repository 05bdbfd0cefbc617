// Preloaded (node --import) into the bare ws reference for `npm run bench -- --servers=ours,ws,ws-heap`:
// builds this service in the same process, never listening and never sent a frame, so bare ws runs
// with ours' resident heap (larger than its own; sizes in bench/README.md) and nothing else of ours. A control:
// what ours costs beyond bare ws with the same heap is the cost of its own code path.
// CARRY_APP_DIR is the checkout whose dist/ it loads (the bench's --ours-dir).
import { pathToFileURL } from 'node:url'

interface AppModule { buildApp: (config: unknown) => Promise<{ ready: () => Promise<unknown> }> }
interface LoadModule { loadConfig: (env: NodeJS.ProcessEnv) => unknown }

const dir = process.env.CARRY_APP_DIR
if (dir === undefined) throw new Error('carry-app: CARRY_APP_DIR is not set')
const load = await import(pathToFileURL(`${dir}/dist/src/config/load.js`).href) as LoadModule
const { buildApp } = await import(pathToFileURL(`${dir}/dist/src/app.js`).href) as AppModule
/** held for the life of the process: the module namespace keeps it reachable */
export const carried = await buildApp(load.loadConfig(process.env))
await carried.ready()
