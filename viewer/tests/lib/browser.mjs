// Headless Chromium (Debian's /usr/bin/chromium) driven by playwright-core.
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';

/** Flags for this machine: no sandbox as root, no network beyond loopback. */
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];

export async function launch() {
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
  try {
    const handle = await page.waitForFunction(fn, arg, { timeout, polling: 50 });
    return handle.jsonValue();
  } catch (e) {
    const state = await page.evaluate(() => JSON.stringify(window.yunying?.reader?.panels?.map((p) => p.state()) ?? null)).catch(() => '?');
    throw new Error(`timed out waiting for ${what}; viewports: ${state}\nconsole:\n${(page.consoleLog ?? []).slice(-20).join('\n')}`);
  }
}
