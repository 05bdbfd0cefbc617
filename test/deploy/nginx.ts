import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect as tcpConnect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { waitFor } from '../helper.js'
import { ROOT, requireTool } from '../server-process.js'
import { freePort } from '../redis/redis-server.js'

export const NGINX = process.env.NGINX ?? '/usr/sbin/nginx'

export function requireNginx (t: Test): boolean {
  return requireTool(t, spawnSync(NGINX, ['-v']).status === 0, `nginx not found at ${NGINX}: install it with 'apt-get install nginx'`, 'NGINX')
}

/** deploy/nginx.conf with the test's ports, paths and read timeout: the shipped site, not a copy. */
export function renderSite (listenPort: number, upstreams: number[], readTimeout: string, logDir: string): string {
  let site = readFileSync(join(ROOT, 'deploy/nginx.conf'), 'utf8')
  site = site.replace('/var/log/nginx/realtime.access.log', join(logDir, 'access.log'))
  const servers = upstreams.map((p) => `    server 127.0.0.1:${p} max_fails=1 fail_timeout=5s;`).join('\n')
  site = site.replace(/( {4}server 127\.0\.0\.1:\d+ [^\n]*\n)+/, `${servers}\n`)
  site = site.replace('    listen 80;\n    listen [::]:80;\n', `    listen 127.0.0.1:${listenPort};\n`)
  site = site.replaceAll('root /srv/realtime/public;', `root ${join(ROOT, 'public')};`)
  site = site.replace(/proxy_read_timeout \d+s;/, `proxy_read_timeout ${readTimeout};`)
  site = site.replace(/proxy_send_timeout \d+s;/, `proxy_send_timeout ${readTimeout};`)
  if (!site.includes(`listen 127.0.0.1:${listenPort}`) || !site.includes(servers)) throw new Error('deploy/nginx.conf changed shape: update renderSite')
  return site
}

/** A real nginx with its own prefix, in the foreground, on a free loopback port. */
export async function startNginx (t: Test, upstreams: number[], readTimeout = '75s'): Promise<{ port: number, http: string, ws: string, child: ChildProcess, accessLog: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rt-nginx-'))
  const port = await freePort()
  for (const d of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, d))
  writeFileSync(join(dir, 'site.conf'), renderSite(port, upstreams, readTimeout, dir))
  writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
master_process off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  types { text/html html; application/javascript js; text/css css; image/png png; }
  default_type application/octet-stream;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  include ${dir}/site.conf;
}
`)
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += String(d) })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })
  await waitFor(async () => {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`)
    return await canConnect(port)
  }, `nginx to listen on ${port}`, 10_000)
  return { port, http: `http://127.0.0.1:${port}`, ws: `ws://127.0.0.1:${port}`, child, accessLog: join(dir, 'access.log') }
}

async function canConnect (port: number): Promise<boolean> {
  return await new Promise((resolve) => {
    const s = tcpConnect(port, '127.0.0.1')
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => resolve(false))
  })
}
