/// <reference lib="dom" />
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import tap, { type Test } from 'tap'
import { chromium, type Browser, type BrowserContext } from 'playwright-core'
import { ROOT, requireTool } from '../server-process.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SCREENSHOTS = join(ROOT, 'test/e2e/screenshots')

let browser: Promise<Browser> | undefined

/**
 * One Chromium process per test file, closed when the file's tests end: a launch takes seconds, a fresh context
 * (its own cookies, storage and cache, as a new profile has) a few milliseconds.
 */
async function sharedBrowser (): Promise<Browser> {
  if (browser === undefined) {
    const launched = chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
        '--no-first-run', '--disable-sync', '--disable-quic']
    })
    browser = launched
    tap.teardown(async () => await (await launched).close())
  }
  return await browser
}

/**
 * Debian's Chromium through playwright-core, headless, in a fresh context. Missing Chromium: a loud skip on a
 * developer's machine, a failure in CI (CI=true). Every page of the context reports Content Security Policy
 * violations (the `securitypolicyviolation` event and Chromium's console line); any one fails the test.
 */
export async function launch (t: Test): Promise<BrowserContext | undefined> {
  const why = `Chromium not found at ${CHROMIUM}: install it with 'apt-get install chromium' (or set CHROMIUM_PATH)`
  if (!requireTool(t, existsSync(CHROMIUM), why, 'BROWSER')) return undefined
  const context = await (await sharedBrowser()).newContext({ viewport: { width: 1100, height: 900 } })
  t.teardown(async () => await context.close())
  // tsx compiles the tests with esbuild's keepNames: a function handed to page.evaluate carries calls to its
  // __name helper, which the page does not have
  await context.addInitScript('globalThis.__name = (fn) => fn')
  await watchCsp(t, context)
  mkdirSync(SCREENSHOTS, { recursive: true })
  return context
}

/** Fails `t` on any CSP violation in `context`: at once while the test runs, or at its end for a late report. */
async function watchCsp (t: Test, context: BrowserContext): Promise<void> {
  const violations: string[] = []
  let ended = false
  const report = (text: string) => {
    violations.push(text)
    if (!ended) t.fail(`Content Security Policy violation: ${text}`)
  }
  await context.exposeBinding('__cspViolation', (_source, text: string) => report(text))
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      (window as unknown as { __cspViolation: (s: string) => void }).__cspViolation(
        `${e.effectiveDirective} refused ${e.blockedURI || 'inline'} (${e.sourceFile}:${e.lineNumber})`)
    }, true)
  })
  context.on('page', (page) => page.on('console', (msg) => {
    if (msg.text().includes('Content Security Policy')) report(`console: ${msg.text()}`)
  }))
  // registered after the context's close, so it runs before it (teardowns run in reverse)
  t.teardown(async () => {
    ended = true
    const seen = violations.length
    // a round trip to every open page delivers any report still on its way
    for (const page of context.pages()) await page.evaluate(() => 0).catch(() => {})
    if (violations.length > seen) t.fail(`Content Security Policy violation after the test: ${violations.slice(seen).join('; ')}`)
  })
}

export type { Browser }
