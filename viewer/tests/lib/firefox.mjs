// Headless Firefox (Debian's /usr/bin/firefox-esr) driven by puppeteer-core
// over WebDriver BiDi (playwright cannot drive a stock Firefox), behind the
// small part of playwright's API the browser tests use, so that one test
// file runs in either browser (lib/browser.mjs picks with YUNYING_BROWSER).
//
// WebGL: headless Firefox finds no GL driver here on its own (no display, so
// no GLX); MOZ_WEBGL_FORCE_EGL=1 makes it use EGL, where Mesa's llvmpipe
// answers, and webgl.force-enabled lets it use a software renderer.
import { mkdtempSync, readdirSync, renameSync, rmSync, statSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';

export const FIREFOX = process.env.FIREFOX ?? '/usr/bin/firefox-esr';

const PREFS = {
  'network.dns.disableIPv6': true,
  'app.update.enabled': false,
  'browser.safebrowsing.malware.enabled': false,
  'webgl.force-enabled': true,
  // A download opens no panel (which would take the focus from the page, and a page without it is refused full screen).
  'browser.download.alwaysOpenPanel': false,
  // A full-screen request goes through without the transition and warning.
  'full-screen-api.transition-duration.enter': '0 0',
  'full-screen-api.transition-duration.leave': '0 0',
  'full-screen-api.warning.timeout': 0,
};

/** Firefox itself (puppeteer's Browser), for tests written against puppeteer. */
export async function launchFirefox() {
  return puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    extraPrefsFirefox: PREFS,
    env: { ...process.env, MOZ_WEBGL_FORCE_EGL: '1' },
  });
}

/** Firefox behind playwright's Browser API (newContext, close). */
export async function launch() {
  const browser = await launchFirefox();
  console.log(`in ${await browser.version()}`);
  return new Browser(browser);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

class Browser {
  constructor(browser) {
    this.browser = browser;
    this.downloads = mkdtempSync(join(tmpdir(), 'yunying-firefox-'));
  }

  async newContext({ viewport = { width: 1280, height: 720 }, deviceScaleFactor = 1, locale, isMobile = false, hasTouch = false } = {}) {
    if (isMobile || hasTouch) throw new Error('the Firefox runs emulate no touch phone');
    const dir = mkdtempSync(join(this.downloads, 'context-'));
    const context = await this.browser.createBrowserContext({ downloadBehavior: { policy: 'allow', downloadPath: dir } });
    return new Context(context, { viewport, deviceScaleFactor, locale, dir });
  }

  async close() {
    await this.browser.close();
    rmSync(this.downloads, { recursive: true, force: true });
  }
}

class Context {
  constructor(context, options) {
    this.context = context;
    this.options = options;
  }

  async newPage() {
    const page = await this.context.newPage();
    const { viewport, deviceScaleFactor, locale } = this.options;
    await page.setViewport({ ...viewport, deviceScaleFactor });
    if (locale) {
      // The language the page sees (the viewer follows navigator.language).
      await page.evaluateOnNewDocument((l) => {
        Object.defineProperty(navigator, 'language', { get: () => l });
        Object.defineProperty(navigator, 'languages', { get: () => [l] });
      }, locale);
    }
    return new Page(page, this);
  }

  /** Cookies given as { name, value, url }. */
  async addCookies(cookies) {
    await this.context.setCookie(...cookies.map(({ name, value, url }) => {
      const u = new URL(url);
      return { name, value, domain: u.hostname, path: '/' };
    }));
  }

  async close() {
    await this.context.close();
  }
}

class Keyboard {
  constructor(page) {
    this.page = page;
  }

  /** A key, or modifiers and a key ("Control+s"); "+" alone is the plus key. */
  async press(key) {
    const parts = key.length > 1 && key.includes('+') ? key.split('+') : [key];
    const last = parts.pop();
    for (const m of parts) await this.page.keyboard.down(m);
    await this.page.keyboard.press(last);
    for (const m of parts.reverse()) await this.page.keyboard.up(m);
  }

  async type(text) {
    await this.page.keyboard.type(text);
  }
}

class Mouse {
  constructor(page) {
    this.page = page;
  }

  move(x, y, options) {
    return this.page.mouse.move(x, y, options);
  }

  down() {
    return this.page.mouse.down();
  }

  up() {
    return this.page.mouse.up();
  }

  async click(x, y) {
    // Through move, so that a later move or wheel starts from here.
    await this.page.mouse.move(x, y);
    await this.page.mouse.click(x, y);
  }

  wheel(deltaX, deltaY) {
    return this.page.mouse.wheel({ deltaX, deltaY });
  }
}

/** A playwright-like page over a puppeteer page. */
class Page {
  constructor(page, context) {
    this.page = page;
    this.ctx = context;
    this.keyboard = new Keyboard(page);
    this.mouse = new Mouse(page);
  }

  context() {
    return this.ctx;
  }

  on(event, handler) {
    this.page.on(event, handler);
    return this;
  }

  goto(url) {
    return this.page.goto(url);
  }

  reload() {
    return this.page.reload();
  }

  waitForFunction(fn, arg, { timeout = 30000, polling = 100 } = {}) {
    return this.page.waitForFunction(fn, { timeout, polling }, arg);
  }

  evaluate(fn, arg) {
    return this.page.evaluate(fn, arg);
  }

  waitForTimeout(ms) {
    return sleep(ms);
  }

  /** The element (waited for, as playwright's actions do). */
  async element(selector, timeout = 30000) {
    const handle = await this.page.waitForSelector(selector, { timeout });
    if (!handle) throw new Error(`no ${selector}`);
    return handle;
  }

  /** playwright's states: 'visible' (the default), 'attached', 'hidden', 'detached'. */
  async waitForSelector(selector, { state = 'visible', timeout = 30000 } = {}) {
    return this.page.waitForSelector(selector, { visible: state === 'visible', hidden: state === 'hidden' || state === 'detached', timeout });
  }

  async type(selector, text) {
    await this.page.locator(selector).setTimeout(30000).click();
    await this.page.keyboard.type(text);
  }

  async focus(selector) {
    const el = await this.element(selector);
    await el.focus();
    await el.dispose();
  }

  async hover(selector) {
    await this.page.locator(selector).setTimeout(30000).hover();
  }

  check(selector) {
    return this.setChecked(selector, true);
  }

  uncheck(selector) {
    return this.setChecked(selector, false);
  }

  url() {
    return this.page.url();
  }

  async click(selector) {
    await this.page.locator(selector).setTimeout(30000).click();
  }

  async fill(selector, text) {
    const el = await this.element(selector);
    // Focused with its text selected, then replaced as typed text is (input and, on leaving, change events).
    await el.evaluate((e) => {
      e.focus();
      e.select?.();
    });
    if (text === '') await this.page.keyboard.press('Backspace');
    else await this.page.evaluate((t) => document.execCommand('insertText', false, t), text);
    await el.dispose();
  }

  async press(selector, key) {
    const el = await this.element(selector);
    await el.focus();
    await el.dispose();
    await this.keyboard.press(key);
  }

  async selectOption(selector, value) {
    await this.element(selector);
    await this.page.select(selector, value);
  }

  async setChecked(selector, checked) {
    const el = await this.element(selector);
    const now = await el.evaluate((e) => e.checked);
    await el.dispose();
    if (now !== checked) await this.click(selector);
  }

  async getAttribute(selector, name) {
    await this.element(selector);
    return this.page.$eval(selector, (e, n) => e.getAttribute(n), name);
  }

  async inputValue(selector) {
    await this.element(selector);
    return this.page.$eval(selector, (e) => e.value);
  }

  async textContent(selector) {
    await this.element(selector);
    return this.page.$eval(selector, (e) => e.textContent);
  }

  $(selector) {
    return this.page.$(selector);
  }

  $eval(selector, fn, arg) {
    return this.page.$eval(selector, fn, arg);
  }

  $$eval(selector, fn, arg) {
    return this.page.$$eval(selector, fn, arg);
  }

  async screenshot(options) {
    return Buffer.from(await this.page.screenshot(options));
  }

  /** "download" only: the next file to appear in this context's download folder. */
  async waitForEvent(event, { timeout = 30000 } = {}) {
    if (event !== 'download') throw new Error(`waitForEvent(${event}) is not available in the Firefox runs`);
    const { dir } = this.ctx.options;
    const before = new Set(readdirSync(dir));
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline) {
      // Firefox writes to name.part and renames it when the download is complete.
      const done = readdirSync(dir).filter((f) => !before.has(f) && !f.endsWith('.part') && !f.startsWith('taken-'));
      if (done.length) {
        const name = done[0];
        const path = join(dir, name);
        // Written and not growing: not empty, the same size over three
        // looks 100 ms apart (a blob may be written in place, without a
        // .part, and a loaded machine stalls the writer for a moment).
        let size = -1;
        let steady = 0;
        for (let look = 0; look < 50 && steady < 3; look++) {
          const now = statSync(path).size;
          steady = now > 0 && now === size ? steady + 1 : 0;
          size = now;
          await sleep(100);
        }
        if (steady >= 3 && statSync(path).size === size && !readdirSync(dir).some((f) => f === `${name}.part`)) {
          // Moved aside: a later download of the same name keeps its name.
          const kept = join(mkdtempSync(join(dir, 'taken-')), name);
          renameSync(path, kept);
          return { suggestedFilename: () => name, createReadStream: async () => createReadStream(kept), path: async () => kept };
        }
      }
      await sleep(50);
    }
    throw new Error('no download');
  }

  close() {
    return this.page.close();
  }
}
