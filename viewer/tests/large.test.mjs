// A series larger than the image cache (viewer/src/panel.ts, `keep`):
// against a running Yunying (YUNYING_URL) holding one 600-slice 128² CT,
// opened with the cache bounded to 4 MB (`?cache=4`), in headless Chromium.
// The viewer keeps a window of images around the one shown, the cache never
// grows past its bound, the window follows the user to the far end, and the
// slices left behind are evicted and load again when the user comes back.
// Started by tests/it/viewer.rs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { qido, v } from './lib/dicom.mjs';

const BASE = process.env.YUNYING_URL;
const DICOMWEB = `${BASE}/dicom-web`;
const SLICES = 600;
const CAP = 4 * 1024 * 1024;
let browser;
let page;

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must point at a running Yunying');
  const studies = await qido(DICOMWEB, '/studies');
  assert.equal(studies.length, 1);
  browser = await launch();
  page = await newPage(browser, { width: 1000, height: 800, locale: 'en-US' });
  await page.goto(`${BASE}/viewer/?cache=4#/study/${v(studies[0], '0020000D')}`);
  await until(page, () => window.yunying?.reader?.panels[0]?.state().firstImage, null, { what: 'first image' });
});

after(async () => {
  await browser?.close();
});

/** Which of the series' images are in the cache, the cache's size and the panel's state. */
const snapshot = () => page.evaluate(async () => {
  const { cache } = window.yunying.cornerstone;
  const panel = window.yunying.reader.panels[0];
  const bytes = panel.viewport.getCornerstoneImage()?.sizeInBytes;
  return { loaded: panel.series.imageIds.map((id) => cache.isLoaded(id)), size: cache.getCacheSize(), max: cache.getMaxCacheSize(), state: panel.state(), bytes, panels: window.yunying.reader.panels.filter((p) => p.root.isConnected).length };
});

/** Indices of loaded images. */
const indices = (loaded) => loaded.flatMap((l, i) => (l ? [i] : []));

async function settle(what, ok) {
  let s;
  for (let k = 0; k < 200; k++) {
    s = await snapshot();
    if (ok(s)) return s;
    await page.waitForTimeout(100);
  }
  assert.fail(`${what}: loaded ${JSON.stringify(indices(s.loaded))}, cache ${s.size} B`);
}

test('a series larger than the cache keeps a window around the slice shown, within the bound', async () => {
  let s = await snapshot();
  assert.equal(s.max, CAP);
  assert.equal(s.state.count, SLICES);
  // 128×128 images: each viewport shown (a hanging protocol may show two)
  // keeps as many as fit in its share of 80% of 4 MB, tens, not 600.
  assert.equal(s.state.keep, Math.floor((0.8 * CAP) / s.panels / s.bytes), `keeps ${s.state.keep} of ${s.bytes} B in ${s.panels} viewports`);
  assert.ok(s.state.keep >= 25 && s.state.keep <= 110, `keeps ${s.state.keep}`);
  const half = Math.floor(s.state.keep / 2);
  s = await settle('the window around slice 1', (s) => s.loaded.slice(0, half + 1).every(Boolean));
  assert.ok(s.size <= CAP, `cache ${s.size} B`);
  assert.deepEqual(indices(s.loaded).filter((i) => i > half), [], 'nothing beyond the window is loaded');
});

test('the window follows the user to the far end, evicting what is left behind, and comes back', async () => {
  const { keep } = (await snapshot()).state;
  const half = Math.floor(keep / 2);
  await page.click('[data-panel=vp0]');
  for (let step = 0; step < SLICES / 10; step++) {
    await page.keyboard.press('PageDown');
    await page.waitForTimeout(40);
    const s = await snapshot();
    assert.ok(s.size <= CAP, `cache ${s.size} B after ${step + 1} pages`);
  }
  let s = await settle('the last slice shown', (s) => s.state.index === SLICES - 1 && s.state.shown);
  s = await settle('the window around the last slice', (s) => s.loaded.slice(SLICES - 1 - half).every(Boolean));
  assert.ok(s.size <= CAP);
  assert.ok(!s.loaded.slice(0, 100).some(Boolean), `the first slices were evicted: ${indices(s.loaded).slice(0, 10)}`);
  await page.keyboard.press('Home');
  s = await settle('the first slice shown again', (s) => s.state.index === 0 && s.state.shown);
  s = await settle('the window around slice 1 again', (s) => s.loaded.slice(0, half + 1).every(Boolean));
  assert.ok(s.size <= CAP);
});

test('MPR refuses a series whose volume would not fit in the cache, saying why', async () => {
  await page.click('[data-panel=vp0]');
  await page.keyboard.press('m');
  const s = await until(page, () => { const m = window.yunying.reader.mpr.state(); return m.problem && m; }, null, { what: 'MPR refusal' });
  assert.equal(s.problem, 'size');
  assert.equal(s.active, false);
  // The stack view goes on as before.
  assert.equal((await snapshot()).state.count, SLICES);
});
