// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core;
// with YUNYING_BROWSER=firefox, headless Firefox (Debian's firefox-esr,
// puppeteer-core over WebDriver BiDi) behind the same API (lib/firefox.mjs).
import { chromium } from 'playwright-core';
import * as firefox from './firefox.mjs';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Flags for this machine: no sandbox as root, no network beyond loopback. */
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];

/** The browser these tests run in: 'chromium' (the default) or 'firefox'. */
export const BROWSER = process.env.YUNYING_BROWSER === 'firefox' ? 'firefox' : 'chromium';

export async function launch() {
  if (BROWSER === 'firefox') return firefox.launch();
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
}

/**
 * A page at a fixed size (desktop by default; `mobile`: a touch phone),
 * with the browser console kept for failure messages.
 */
export async function newPage(browser, { width = 1280, height = 900, locale = 'zh-CN', mobile = false } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, deviceScaleFactor: 1, locale, isMobile: mobile, hasTouch: mobile });
  const page = await context.newPage();
  const log = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  page.consoleLog = log;
  return page;
}

/** Wait until `fn` (run in the page) returns a truthy value; its value. */
export async function until(page, fn, arg, { timeout = 30000, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  // A wait that fails early (the page's context replaced by a navigation
  // while the app starts) is tried again until the time is up.
  while (Date.now() < deadline) {
    try {
      const handle = await page.waitForFunction(fn, arg, { timeout: Math.max(1, deadline - Date.now()), polling: 50 });
      return await handle.jsonValue();
    } catch (e) {
      last = e;
      if (e.name === 'TimeoutError') break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const state = await page.evaluate(() => JSON.stringify(window.yunying?.reader?.panels?.map((p) => p.state()) ?? null)).catch(() => '?');
  throw new Error(`timed out waiting for ${what} (${last?.message?.split('\n')[0]}); viewports: ${state}\nconsole:\n${(page.consoleLog ?? []).slice(-20).join('\n')}`);
}
