// Reading comfort in the reader (viewer/src/comfort.ts) against a running
// Yunying (YUNYING_URL) holding one 20-slice 256² CT study, in headless
// Chromium or Firefox (lib/browser.mjs): the pixel probe reads the stored value in HU, the tag browser
// shows the image's attributes, a view exports as PNG and JPEG with the
// annotations burned in or not, cine speed and full screen from the keys.
// Started by tests/it/viewer.rs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { frameValues, qido, v } from './lib/dicom.mjs';
import { decode } from './lib/png.mjs';

const BASE = process.env.YUNYING_URL;
const DICOMWEB = `${BASE}/dicom-web`;
let browser;
let page;
let study;

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must point at a running Yunying');
  const studies = await qido(DICOMWEB, '/studies');
  assert.equal(studies.length, 1);
  study = v(studies[0], '0020000D');
  browser = await launch();
  page = await newPage(browser, { width: 1300, height: 900, locale: 'en-US' });
  await page.goto(`${BASE}/viewer/#/study/${study}`);
  await until(page, () => window.yunying?.reader?.panels[0]?.state().firstImage, null, { what: 'first image' });
  await until(page, () => window.yunying.reader.panels[0].state().loaded === 20, null, { what: 'all slices' });
});

after(async () => {
  await browser?.close();
});

const reader = (fn, arg) => page.evaluate(fn, arg);

/** Drag on the first viewport from image point a to b (column, row). */
async function drag(a, b) {
  const [pa, pb] = await reader(([a, b]) => [window.yunying.reader.panels[0].canvasPoint(...a), window.yunying.reader.panels[0].canvasPoint(...b)], [a, b]);
  const box = await (await page.$('[data-panel=vp0] .cs')).boundingBox();
  await page.mouse.move(box.x + pa[0], box.y + pa[1]);
  await page.mouse.down();
  await page.mouse.move(box.x + (pa[0] + pb[0]) / 2, box.y + (pa[1] + pb[1]) / 2, { steps: 4 });
  await page.mouse.move(box.x + pb[0], box.y + pb[1], { steps: 4 });
  await page.mouse.up();
  await page.mouse.move(box.x + 5, box.y + box.height - 5);
}

test('the probe (V) reads the stored pixel value in HU at the point clicked', async () => {
  await page.keyboard.press('v');
  assert.equal(await page.getAttribute('[data-testid=tool-probe]', 'class'), 'on');
  const [p] = await reader(() => [window.yunying.reader.panels[0].canvasPoint(100, 140)]);
  const box = await (await page.$('[data-panel=vp0] .cs')).boundingBox();
  await page.mouse.click(box.x + p[0], box.y + p[1]);
  const probe = await until(page, () => window.yunying.reader.measurements().find((m) => m.tool === 'Probe' && m.values.index)?.values, null, { what: 'probe value' });
  const [col, row] = probe.index;
  const state = await reader(() => window.yunying.reader.panels[0].state());
  const sop = await reader((i) => window.yunying.reader.panels[0].series.frames[i].instance['00080018'].Value[0], state.index);
  const series = state.series;
  const values = await frameValues(DICOMWEB, study, series, sop);
  // gen_ct_series.py: Rescale Slope 1, Intercept -1024.
  assert.ok(Math.abs(col - 100) <= 1 && Math.abs(row - 140) <= 1, `probe at ${probe.index}`);
  assert.equal(probe.value, values[row * 256 + col] - 1024);
  const label = await page.$$eval('[data-panel=vp0] svg text', (ts) => ts.map((t) => t.textContent).join(' '));
  assert.match(label, new RegExp(`${probe.value}`));
});

test('the tag browser (T) lists the attributes of the image shown and filters them', async () => {
  await page.keyboard.press('t');
  await until(page, () => document.querySelector('[data-testid=tag-browser][open]'), null, { what: 'tag browser' });
  const row = (tag) => page.$$eval(`[data-testid=tag-browser] tr[data-tag="${tag}"] td`, (tds) => tds.map((t) => t.textContent));
  assert.deepEqual(await row('(0028,0010)'), ['(0028,0010)', 'US', 'Rows', '256']);
  assert.deepEqual((await row('(0028,1052)')).slice(2), ['Rescale Intercept', '-1024']);
  const state = await reader(() => window.yunying.reader.panels[0].state());
  const sop = await reader((i) => window.yunying.reader.panels[0].series.frames[i].instance['00080018'].Value[0], state.index);
  assert.equal((await row('(0008,0018)'))[3], sop);
  await page.fill('[data-testid=tag-filter]', 'rescale');
  const shown = await page.$$eval('[data-testid=tag-browser] tbody tr', (rows) => rows.map((r) => r.dataset.tag));
  assert.deepEqual(shown.sort(), ['(0028,1052)', '(0028,1053)'].concat(shown.includes('(0028,1054)') ? ['(0028,1054)'] : []).sort());
  await page.click('[data-testid=tag-close]');
  assert.equal(await page.$('[data-testid=tag-browser]'), null);
});

/** Export the view through the toolbar; the downloaded file's bytes and name. */
async function exportView(format, annotations) {
  await page.selectOption('[data-testid=export-format]', format);
  await page.setChecked('[data-testid=export-annotations]', annotations);
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export]')]);
  const chunks = [];
  for await (const chunk of await download.createReadStream()) chunks.push(chunk);
  return { name: download.suggestedFilename(), bytes: Buffer.concat(chunks) };
}

test('a view exports as PNG and JPEG, with the annotations burned in or without', async () => {
  await page.keyboard.press('l');
  await drag([40, 60], [200, 60]);
  await until(page, () => window.yunying.reader.measurements().some((m) => m.tool === 'Length' && m.values.length), null, { what: 'a length' });
  const canvas = await reader(() => { const c = document.querySelector('[data-panel=vp0] canvas'); return [c.width, c.height]; });
  const withMarks = await exportView('png', true);
  const without = await exportView('png', false);
  assert.match(withMarks.name, /^view-S\d*-\d+\.png$/);
  assert.doesNotMatch(withMarks.name, /Chen|陈/, 'no patient data in the file name');
  const a = decode(withMarks.bytes);
  const b = decode(without.bytes);
  assert.deepEqual([a.width, a.height], canvas);
  assert.deepEqual([b.width, b.height], canvas);
  // The image itself is there (the phantom's body, not a black canvas) ...
  let bright = 0;
  for (let i = 0; i < b.data.length; i += 4) if (b.data[i] > 60) bright++;
  assert.ok(bright > (b.width * b.height) / 20, `only ${bright} bright pixels`);
  // ... and the burned-in one differs from it where the line and its label
  // are drawn, in colour (Cornerstone draws annotations in colour, the CT is grey).
  let coloured = 0;
  let differing = 0;
  for (let i = 0; i < a.data.length; i += 4) {
    if (a.data[i] !== b.data[i] || a.data[i + 1] !== b.data[i + 1] || a.data[i + 2] !== b.data[i + 2]) differing++;
    if (Math.max(a.data[i], a.data[i + 1], a.data[i + 2]) - Math.min(a.data[i], a.data[i + 1], a.data[i + 2]) > 60) coloured++;
  }
  assert.ok(differing > 100, `${differing} pixels differ`);
  assert.ok(coloured > 50, `${coloured} coloured pixels`);
  for (let i = 0; i < b.data.length; i += 4) assert.ok(Math.abs(b.data[i] - b.data[i + 1]) < 3, 'the export without annotations is grey');
  const jpeg = await exportView('jpeg', true);
  assert.match(jpeg.name, /\.jpg$/);
  assert.deepEqual([...jpeg.bytes.subarray(0, 3)], [0xff, 0xd8, 0xff]);
});

test('cine speed steps with + and −, and F toggles full screen', async () => {
  assert.equal(await reader(() => window.yunying.reader.fps), 20);
  await page.keyboard.press('+');
  assert.equal(await reader(() => window.yunying.reader.fps), 30);
  await page.keyboard.press('-');
  await page.keyboard.press('-');
  assert.equal(await reader(() => window.yunying.reader.fps), 15);
  await page.selectOption('[data-testid=cine-speed]', '60');
  assert.equal(await reader(() => window.yunying.reader.fps), 60);
  await page.keyboard.press('+');
  assert.equal(await reader(() => window.yunying.reader.fps), 60, 'the fastest speed is the last');
  await page.keyboard.press('f');
  await until(page, () => document.fullscreenElement?.classList.contains('main'), null, { what: 'full screen' });
  await page.keyboard.press('f');
  await until(page, () => !document.fullscreenElement, null, { what: 'full screen left' });
});

test('the magnifier (G) is the left-button tool until another is chosen', async () => {
  await page.keyboard.press('g');
  assert.equal(await page.getAttribute('[data-testid=tool-magnify]', 'class'), 'on');
  await page.keyboard.press('w');
  assert.equal(await page.getAttribute('[data-testid=tool-magnify]', 'class'), '');
  assert.equal(await page.getAttribute('[data-testid=tool-window]', 'class'), 'on');
});
