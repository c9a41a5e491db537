// The radiologist viewer against a running Yunying (YUNYING_URL), in headless
// Chromium. Started by tests/it/viewer.rs, which imports two 300-slice CT
// studies of Chen^JianGuo=陈^建国: the recent one from institution HOSP_A,
// the prior (a month earlier, table 10 mm higher) from HOSP_B.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { assertDisplays } from './lib/display.mjs';
import { frameValues, instancesByZ, qido, v } from './lib/dicom.mjs';

const BASE = process.env.YUNYING_URL;
const DICOMWEB = `${BASE}/dicom-web`;
let browser;
let page;
let studies; // newest first

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must point at a running Yunying');
  studies = (await qido(DICOMWEB, '/studies', { PatientName: 'Chen^JianGuo*' }))
    .sort((a, b) => v(b, '00080020').localeCompare(v(a, '00080020')));
  assert.equal(studies.length, 2, 'the test data holds two studies of Chen JianGuo');
  browser = await launch();
  page = await newPage(browser, { width: 1400, height: 1000 });
});

after(async () => {
  await browser?.close();
});

/** State of viewport `i` as the viewer reports it. */
const panel = (i = 0) => page.evaluate((i) => window.yunying.reader?.panels[i]?.state(), i);

async function searchByName(name) {
  await page.goto(`${BASE}/viewer/`);
  await until(page, () => window.yunying?.ready, null, { what: 'worklist' });
  await page.fill('[data-testid=filter-name]', name);
  await page.click('[data-testid=search]');
  await until(page, () => !document.querySelector('[data-testid=worklist-status]').textContent.includes('…'), null, { what: 'search' });
  return page.$$eval('tbody tr', (rows) => rows.map((r) => ({ study: r.dataset.study, name: r.querySelector('[data-col=name]').textContent, institution: r.querySelector('[data-col=institution]').textContent })));
}

test('the worklist finds a Chinese-named patient by Pinyin and by Hanzi', async () => {
  const uids = studies.map((s) => v(s, '0020000D')).sort();
  for (const query of ['chen', 'Chen JianGuo', 'CHEN^JIAN', '陈', '陈建国', '陈 建国']) {
    const rows = await searchByName(query);
    const found = rows.filter((r) => uids.includes(r.study));
    assert.deepEqual(found.map((r) => r.study).sort(), uids, `${query}: ${JSON.stringify(rows)}`);
    for (const r of found) assert.equal(r.name, '陈建国 (Chen JianGuo)');
  }
  const none = await searchByName('李');
  assert.ok(none.every((r) => !uids.includes(r.study)));
});

test('a 300-slice CT opens, scrolls to slice 150 and shows the lung window', async () => {
  const study = v(studies[0], '0020000D');
  await searchByName('陈建国');
  await page.click(`tr[data-study="${study}"]`);
  let state = await until(page, () => window.yunying.reader?.panels[0]?.state().firstImage && window.yunying.reader.panels[0].state(), null, { what: 'first image' });
  assert.equal(state.count, 300);
  assert.equal(state.index, 0);

  // Wheel and keys both scroll the stack (several wheel notches in one
  // frame may count as one step; keys count exactly).
  await page.mouse.move(800, 500);
  for (let i = 0; i < 5; i++) await page.mouse.wheel(0, 120);
  const wheeled = (await until(page, () => { const s = window.yunying.reader.panels[0].state(); return s.index > 0 && s.shown && s; }, null, { what: 'wheel scroll' })).index;
  await page.keyboard.press('Home');
  await until(page, () => window.yunying.reader.panels[0].state().index === 0, null, { what: 'Home' });
  assert.ok(wheeled <= 5, `5 notches scrolled ${wheeled} slices`);
  for (let i = 0; i < 14; i++) await page.keyboard.press('PageDown');
  for (let i = 0; i < 9; i++) await page.keyboard.press('ArrowDown');
  state = await until(page, () => { const s = window.yunying.reader.panels[0].state(); return s.index === 149 && s.shown && s; }, null, { what: 'slice 150 on screen' });
  await until(page, () => document.querySelector('[data-testid=slice]').textContent === 'Im 150/300', null, { what: 'overlay Im 150/300' });

  // The image shown is slice 150 in head-to-feet order.
  const series = await page.evaluate(() => window.yunying.reader.panels[0].series.uid);
  const byZ = await instancesByZ(DICOMWEB, study, series);
  assert.equal(state.position[2], byZ[149].z);

  // Display values: default window (the dataset's 40/400), then the lung preset, each
  // compared pixel by pixel with the stored values put through the DICOM LINEAR window.
  await page.waitForTimeout(300);
  // Full fidelity from the lossless HTJ2K copy made at ingest (the test waits for renditions).
  assert.equal((await panel(0)).transferSyntax, '1.2.840.10008.1.2.4.201');
  const values = await frameValues(DICOMWEB, study, series, byZ[149].sop);
  const check = async (center, width) => {
    const s = await panel(0);
    assert.ok(Math.abs(s.voi.center - center) < 1 && Math.abs(s.voi.width - width) < 1, `window ${JSON.stringify(s.voi)}`);
    await assertDisplays(page, 0, values, { rows: 512, cols: 512, intercept: -1024, center, width });
  };
  await check(40, 400);
  await page.click('[data-testid=preset-lung]');
  await until(page, () => Math.round(window.yunying.reader.panels[0].state().voi.center) === -600, null, { what: 'lung window' });
  await page.waitForTimeout(200);
  await check(-600, 1500);
  assert.equal(await page.textContent('[data-testid=window]'), 'W 1500 L -600');

  // Every slice arrives.
  await until(page, () => window.yunying.reader.panels[0].state().loaded === 300, null, { what: 'all slices loaded', timeout: 60000 });
});

test('a length measurement over a known distance reads the right millimetres', async () => {
  // Continues on the study opened above; reset to fit the image.
  await page.keyboard.press('r');
  await page.click('[data-testid=tool-length]');
  const spacing = 350 / 512; // gen_ct_series.py: 350 mm field of view over 512 columns
  const [a, b] = await page.evaluate(() => [window.yunying.reader.panels[0].canvasPoint(156, 256), window.yunying.reader.panels[0].canvasPoint(356, 256)]);
  const box = await (await page.$('[data-panel=vp0] .cs')).boundingBox();
  await page.mouse.move(box.x + a[0], box.y + a[1]);
  await page.mouse.down();
  await page.mouse.move(box.x + (a[0] + b[0]) / 2, box.y + a[1], { steps: 5 });
  await page.mouse.move(box.x + b[0], box.y + b[1], { steps: 5 });
  await page.mouse.up();
  // Moving away ends the handle's highlight; the statistics follow at the next render.
  await page.mouse.move(box.x + 20, box.y + box.height - 20);
  // While slices still stream in, Cornerstone may show a first value computed
  // before the viewport's image data settled; it is redrawn at the next
  // render. Read the value once it holds for half a second.
  const length = () => until(page, () => window.yunying.reader.measurements().find((m) => m.tool === 'Length' && m.final && m.values.length)?.values, null, { what: 'a length' });
  let measured = await length();
  for (let k = 0; k < 20; k++) {
    await page.waitForTimeout(500);
    const again = await length();
    if (again.length === measured.length) break;
    measured = again;
  }
  const expected = 200 * spacing; // 136.72 mm
  assert.equal(measured.unit, 'mm');
  // One screen pixel is about 0.5 image pixels here, at each end.
  assert.ok(Math.abs(measured.length - expected) < 0.8, `measured ${measured.length} mm, expected ${expected.toFixed(2)} mm`);
  // The label drawn next to the line says the same.
  const labels = await page.$$eval('[data-panel=vp0] svg text', (ts) => ts.map((t) => t.textContent));
  assert.deepEqual(labels, [`${measured.length.toFixed(1)} mm`]);
  await page.click('[data-testid=tool-window]');
});

test('the prior study from another institution opens side by side with synchronised scrolling', async () => {
  const prior = v(studies[1], '0020000D');
  await until(page, () => document.querySelector(`[data-prior]`), null, { what: 'priors listed' });
  const listed = await page.$$eval('[data-prior]', (els) => els.map((e) => ({ uid: e.dataset.prior, text: e.textContent })));
  assert.deepEqual(listed.map((p) => p.uid), [prior]);
  assert.match(listed[0].text, /HOSP_B|Synthetic/);
  await page.click(`[data-prior="${prior}"] [data-testid=compare]`);
  const right = await until(page, () => { const s = window.yunying.reader.panels[1]?.state(); return s?.firstImage && s; }, null, { what: 'prior shown' });
  const left = await panel(0);
  assert.equal(await page.getAttribute('.grid', 'data-layout'), '1x2');
  // The prior opens at the same table position.
  assert.equal(right.position[2], left.position[2]);
  assert.notEqual(right.series, left.series);
  // Scrolling the current study scrolls the prior along.
  await page.click('[data-panel=vp0]');
  for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowDown');
  const moved = await until(page, (target) => { const s = window.yunying.reader.panels[0].state(); return s.index === target && s; }, left.index + 10, { what: 'left scrolled' });
  const followed = await until(page, (z) => { const s = window.yunying.reader.panels[1].state(); return s.position[2] === z && s; }, moved.position[2], { what: 'prior follows' });
  assert.equal(followed.index, right.index + 10);
  // And back again with the wheel over the left viewport.
  const box = await (await page.$('[data-panel=vp0] .cs')).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  for (let i = 0; i < 3; i++) await page.mouse.wheel(0, -120);
  await until(page, (i) => window.yunying.reader.panels[1].state().index === i, right.index + 7, { what: 'prior follows the wheel' });
});

test('invert, cine and the 2×2 layout work from the toolbar and keys', async () => {
  await page.click('[data-testid=layout-2x2]');
  await until(page, () => document.querySelectorAll('.grid [data-panel]').length === 4, null, { what: 'four viewports' });
  const kept = await panel(0);
  assert.equal(kept.count, 300, 'the first viewport keeps its series');
  await page.click('[data-panel=vp0]');
  assert.equal((await panel(0)).invert, false);
  await page.keyboard.press('i');
  assert.equal((await panel(0)).invert, true);
  await page.click('[data-testid=reset]');
  assert.equal((await panel(0)).invert, false);
  const before = (await panel(0)).index;
  await page.click('[data-testid=cine]');
  await until(page, (i) => window.yunying.reader.panels[0].state().index >= i + 5, before, { what: 'cine plays' });
  await page.click('[data-testid=cine]');
  const stopped = (await panel(0)).index;
  await page.waitForTimeout(400);
  assert.equal((await panel(0)).index, stopped, 'cine stops');
  await page.click('[data-testid=layout-1x1]');
  await until(page, () => document.querySelectorAll('.grid [data-panel]').length === 1, null, { what: 'one viewport' });
});

test('on a tablet, one finger scrolls (scroll tool) and two fingers pinch to zoom', async () => {
  const tablet = await browser.newContext({ viewport: { width: 1024, height: 768 }, deviceScaleFactor: 1, hasTouch: true, isMobile: true });
  const tab = await tablet.newPage();
  await tab.goto(`${BASE}/viewer/?lang=en#/study/${v(studies[0], '0020000D')}`);
  await until(tab, () => window.yunying.reader?.panels[0]?.state().firstImage, null, { what: 'first image on the tablet' });
  await tab.tap('[data-testid=tool-scroll]');
  const cdp = await tablet.newCDPSession(tab);
  const box = await (await tab.$('[data-panel=vp0] .cs')).boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const touch = (type, points) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points.map(([x, y], id) => ({ x, y, id })) });
  await touch('touchStart', [[cx, cy - 150]]);
  for (let k = 1; k <= 15; k++) await touch('touchMove', [[cx, cy - 150 + k * 20]]);
  await touch('touchEnd', []);
  // Slices not loaded yet are fetched after a short pause in scrolling.
  await until(tab, () => window.yunying.reader.panels[0].state().index > 0, null, { what: 'one-finger drag scrolls' });
  const zoom = () => tab.evaluate(() => window.yunying.reader.panels[0].viewport.getZoom());
  const before = await zoom();
  await touch('touchStart', [[cx - 40, cy], [cx + 40, cy]]);
  for (let k = 1; k <= 10; k++) await touch('touchMove', [[cx - 40 - k * 15, cy], [cx + 40 + k * 15, cy]]);
  await touch('touchEnd', []);
  const after = await zoom();
  assert.ok(after > before * 1.2, `pinch zoomed from ${before} to ${after}`);
  await tablet.close();
});

test('every frame is fetched and decoded in the frame workers, none on the page', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  const p = await context.newPage();
  await p.addInitScript(() => {
    // Every resource the page itself fetches stays listed; every worker started is named here.
    performance.setResourceTimingBufferSize(100000);
    const Native = window.Worker;
    window.__workers = [];
    window.Worker = class extends Native {
      constructor(url, options) {
        super(url, options);
        window.__workers.push(options?.name ?? '');
      }
    };
  });
  await p.goto(`${BASE}/viewer/#/study/${v(studies[0], '0020000D')}`);
  await until(p, () => window.yunying.reader?.marks['all-loaded'] !== undefined, null, { what: 'all slices loaded', timeout: 60000 });
  const seen = await p.evaluate(() => ({
    stats: window.yunying.frames,
    workers: window.__workers,
    cores: navigator.hardwareConcurrency,
    loaded: window.yunying.reader.panels[0].state().loaded,
    // Frames (not their rendered previews) the page fetched itself.
    pageFrames: performance.getEntriesByType('resource').filter((e) => /\/frames\/\d+$/.test(new URL(e.name).pathname)).length,
  }));
  assert.equal(seen.loaded, 300);
  assert.equal(seen.stats.workers, Math.max(1, Math.min(4, seen.cores)), JSON.stringify(seen.stats));
  assert.equal(seen.workers.filter((n) => n === 'yunying-frames').length, seen.stats.workers, `workers started: ${JSON.stringify(seen.workers)}`);
  // Each of the 300 frames once, fetched and decoded in a worker; none fetched (so none decoded) by the page.
  assert.equal(seen.stats.decoded, 300, JSON.stringify(seen.stats));
  assert.equal(seen.stats.fetchedOnly, 0);
  assert.equal(seen.stats.failed, 0);
  assert.equal(seen.pageFrames, 0);
  await context.close();
});
