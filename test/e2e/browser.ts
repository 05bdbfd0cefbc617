import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { chromium, type Browser, type BrowserContext } from 'playwright-core'
import { ROOT, requireTool } from '../server-process.js'

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
export const SCREENSHOTS = join(ROOT, 'test/e2e/screenshots')

/**
 * Debian's Chromium through playwright-core, headless, with a fresh profile. Missing Chromium: a loud skip on a
 * developer's machine, a failure in CI (CI=true).
 */
export async function launch (t: Test): Promise<BrowserContext | undefined> {
  const why = `Chromium not found at ${CHROMIUM}: install it with 'apt-get install chromium' (or set CHROMIUM_PATH)`
  if (!requireTool(t, existsSync(CHROMIUM), why, 'BROWSER')) return undefined
  const profile = mkdtempSync(join(tmpdir(), 'rt-chromium-'))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1100, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
      '--no-first-run', '--disable-sync', '--disable-quic']
  })
  t.teardown(async () => {
    await context.close()
    rmSync(profile, { recursive: true, force: true })
  })
  mkdirSync(SCREENSHOTS, { recursive: true })
  return context
}

export type { Browser }
