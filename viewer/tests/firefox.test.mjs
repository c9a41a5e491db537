// The viewer in desktop Firefox (Debian's firefox-esr, driven by
// puppeteer-core over WebDriver BiDi) against a running Yunying
// (YUNYING_URL) holding one CT series of VIEWER_PATIENT_ID.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launchFirefox } from './lib/firefox.mjs';
import { assertDisplays } from './lib/display.mjs';
import { frameValues, instancesByZ, qido, v } from './lib/dicom.mjs';

const BASE = process.env.YUNYING_URL;
let browser;

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must point at a running Yunying');
  browser = await launchFirefox();
});

after(async () => {
  await browser?.close();
});

const state = (page) => page.evaluate(() => window.yunying.reader?.panels[0]?.state());

async function waitFor(page, fn, what, arg) {
  try {
    return await (await page.waitForFunction(fn, { timeout: 30000, polling: 100 }, arg)).jsonValue();
  } catch (e) {
    throw new Error(`Firefox: timed out waiting for ${what}: ${JSON.stringify(await state(page).catch(() => null))}`);
  }
}

test('in Firefox the worklist finds the study, it opens, scrolls and shows the lung window', async () => {
  const pid = process.env.VIEWER_PATIENT_ID;
  const [study] = await qido(`${BASE}/dicom-web`, '/studies', { PatientID: pid });
  const uid = v(study, '0020000D');
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900, deviceScaleFactor: 1 });
  await page.goto(`${BASE}/viewer/?lang=en`);
  await waitFor(page, () => window.yunying?.ready && document.querySelector('tbody tr'), 'worklist');
  await page.type('[data-testid=filter-name]', '陈');
  await page.click('[data-testid=search]');
  // The rows of the first, unfiltered search are replaced when this one answers.
  await waitFor(page, (uid) => document.querySelector(`tbody:not([aria-busy]) tr[data-study="${uid}"]`), 'the study by Hanzi', uid);
  await page.click(`tr[data-study="${uid}"]`);
  const first = await waitFor(page, () => { const s = window.yunying.reader?.panels[0]?.state(); return s?.firstImage && s; }, 'first image');
  const count = Number(process.env.VIEWER_SLICES);
  assert.equal(first.count, count);
  for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowDown');
  const at = await waitFor(page, () => { const s = window.yunying.reader.panels[0].state(); return s.index === 10 && s.shown && s; }, 'slice 11');
  await page.click('[data-testid=preset-lung]');
  await waitFor(page, () => Math.round(window.yunying.reader.panels[0].state().voi.center) === -600, 'lung window');
  await new Promise((r) => setTimeout(r, 300));
  const series = await page.evaluate(() => window.yunying.reader.panels[0].series.uid);
  const sop = (await instancesByZ(`${BASE}/dicom-web`, uid, series)).find((i) => i.z === at.position[2]).sop;
  const values = await frameValues(`${BASE}/dicom-web`, uid, series, sop);
  const rows = Math.round(Math.sqrt(values.length));
  await assertDisplays(page, 0, values, { rows, cols: rows, intercept: -1024, center: -600, width: 1500 });
  await waitFor(page, (n) => window.yunying.reader.panels[0].state().loaded === n, 'every slice', count);
  await page.close();
});
