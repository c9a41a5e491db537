// Annotations that persist as DICOM, in headless Chromium against a running
// Yunying (YUNYING_URL; started by tests/it/annotations.rs with one CT of
// institution HOSP_A and its radiologist READER): a length, an ellipse ROI
// and an arrow with its text (typed in the in-page dialog) drawn with the
// mouse, the image shown marked as a key image (K), the lung window chosen,
// saved (Ctrl+S), the page reloaded: the same length, ROI area and mean,
// arrow and text come back from the stored SR, the key image mark from the
// key object document and the window from the presentation state.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { signInPage, submitPassword } from './lib/signin.mjs';

const BASE = process.env.YUNYING_URL;
let browser;
let page;

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must point at a running Yunying');
  browser = await launch();
  page = await newPage(browser, { width: 1400, height: 1000 });
});

after(async () => {
  await browser?.close();
});

const shown = () => until(page, () => {
  const s = window.yunying.reader?.panels[0]?.state();
  return s?.firstImage && s.shown && s;
}, null, { what: 'the first image' });

/** Drag on viewport 0 from image point `a` to `b` (column, row). */
async function drag(a, b) {
  const [p, q] = await page.evaluate(([a, b]) => [window.yunying.reader.panels[0].canvasPoint(...a), window.yunying.reader.panels[0].canvasPoint(...b)], [a, b]);
  const box = await (await page.$('[data-panel=vp0] .cs')).boundingBox();
  await page.mouse.move(box.x + p[0], box.y + p[1]);
  await page.mouse.down();
  await page.mouse.move(box.x + (p[0] + q[0]) / 2, box.y + (p[1] + q[1]) / 2, { steps: 5 });
  await page.mouse.move(box.x + q[0], box.y + q[1], { steps: 5 });
  await page.mouse.up();
  await page.mouse.move(box.x + 10, box.y + box.height - 10);
}

/** The final values of the first annotation of `tool` once they hold for half a second. */
async function settled(tool, key) {
  const read = () => until(page, ([tool, key]) => window.yunying.reader.measurements().find((m) => m.tool === tool && m.final && m.values[key] !== undefined)?.values, [tool, key], { what: `${tool} ${key}` });
  let values = await read();
  for (let k = 0; k < 20; k++) {
    await page.waitForTimeout(500);
    const again = await read();
    if (JSON.stringify(again) === JSON.stringify(values)) break;
    values = again;
  }
  return values;
}

/** The arrows as they would be saved: tool, points (image pixels, tail then head), label. */
const arrows = () => page.evaluate(() => window.yunying.reader.annotations.collect().annotations.filter((a) => a.tool === 'arrow'));
const keyState = () => page.evaluate(() => ({
  pressed: document.querySelector('[data-testid=key-image]')?.getAttribute('aria-pressed'),
  marked: document.querySelector('[data-panel=vp0]')?.classList.contains('key-image'),
  keys: window.yunying.reader.annotations.shown.keyImages(),
}));

test('measurements, an arrow with text, a key image and a window saved and reloaded come back the same', async () => {
  // Loopback may look as the anonymous principal: sign in as the radiologist.
  await page.goto(`${BASE}/viewer/?lang=en#/login`);
  await signInPage(page);
  await submitPassword(page, process.env.READER, process.env.PASSWORD);
  await until(page, () => document.querySelector('[data-testid=who-name]'), null, { what: 'signed in' });
  const row = await until(page, () => document.querySelector('tbody tr[data-study]')?.dataset.study, null, { what: 'the study on the worklist' });
  await page.click(`tr[data-study="${row}"]`);
  await shown();

  await page.click('[data-testid=tool-length]');
  await drag([60, 128], [190, 150]);
  const length = await settled('Length', 'length');
  assert.equal(length.unit, 'mm');
  await page.click('[data-testid=tool-ellipse]');
  await drag([90, 90], [160, 150]);
  const roi = await settled('EllipticalROI', 'mean');
  assert.ok(roi.area > 0 && Number.isFinite(roi.mean), JSON.stringify(roi));

  // An arrow (N): pointing at (150, 70) from (200, 40); its text from the dialog in the page.
  await page.keyboard.press('n');
  assert.equal(await page.getAttribute('[data-testid=tool-arrow]', 'class'), 'on');
  await drag([150, 70], [200, 40]);
  await page.waitForSelector('[data-testid=arrow-text-dialog]');
  await page.fill('[data-testid=arrow-text]', '看这里 look');
  await page.keyboard.press('Enter');
  await until(page, () => !document.querySelector('[data-testid=arrow-text-dialog]'), null, { what: 'the dialog closed' });
  const [arrow] = await arrows();
  assert.equal(arrow?.label, '看这里 look', JSON.stringify(arrow));
  assert.ok(Math.hypot(arrow.points[1][0] - 150, arrow.points[1][1] - 70) < 2, `head at ${arrow.points[1]}`);
  assert.ok(Math.hypot(arrow.points[0][0] - 200, arrow.points[0][1] - 40) < 2, `tail at ${arrow.points[0]}`);
  // An arrow whose dialog is cancelled is not kept.
  await drag([60, 200], [90, 220]);
  await page.click('[data-testid=arrow-text-cancel]');
  assert.equal((await arrows()).length, 1);
  await page.click('[data-testid=tool-window]');

  // The image shown marked as a key image (K); the toggle follows the image shown.
  assert.equal((await keyState()).pressed, 'false');
  await page.keyboard.press('k');
  const marked = await keyState();
  assert.equal(marked.pressed, 'true');
  assert.equal(marked.marked, true);
  assert.equal(marked.keys.length, 1);
  const index = await page.evaluate(() => window.yunying.reader.panels[0].state().index);
  await page.keyboard.press('ArrowDown');
  await until(page, (i) => { const s = window.yunying.reader.panels[0].state(); return s.index === i + 1 && s.shown; }, index, { what: 'the next image' });
  await until(page, () => document.querySelector('[data-testid=key-image]').getAttribute('aria-pressed') === 'false', null, { what: 'not a key image' });
  await page.keyboard.press('ArrowUp');
  await until(page, (i) => { const s = window.yunying.reader.panels[0].state(); return s.index === i && s.shown; }, index, { what: 'the key image again' });
  await until(page, () => document.querySelector('[data-testid=key-image]').getAttribute('aria-pressed') === 'true', null, { what: 'the key image marked' });

  // The lung window (3): not the image's own.
  await page.keyboard.press('3');
  const voi = await until(page, () => { const v = window.yunying.reader.panels[0].state().voi; return v && Math.round(v.width) === 1500 && v; }, null, { what: 'the lung window' });

  // Ctrl+S saves.
  await page.keyboard.press('Control+s');
  const status = await until(page, () => /saved/.test(window.yunying.reader.annotations.status) && window.yunying.reader.annotations.status, null, { what: 'saved' });
  assert.match(status, /^3 annotations saved, 1 key images/);

  // Reloaded: nothing drawn in this page; the saved set comes back.
  await page.reload();
  await until(page, () => window.yunying?.ready, null, { what: 'the viewer again' });
  if (!(await page.evaluate(() => location.hash.startsWith('#/study/')))) await page.click(`tr[data-study="${row}"]`);
  await shown();
  const own = await page.evaluate(() => { const v = window.yunying.reader.panels[0].defaultVoi; return v.upper - v.lower + 1; });
  assert.notEqual(Math.round(own), 1500, "the image's own window is not the lung window");
  await until(page, () => /loaded/.test(window.yunying.reader?.annotations.status ?? ''), null, { what: 'annotations loaded' });
  // The saved window applied to the viewport showing its series.
  const voiAgain = await until(page, () => { const v = window.yunying.reader.panels[0].state().voi; return v && Math.round(v.width) === 1500 && v; }, null, { what: 'the saved window' });
  assert.ok(Math.abs(voiAgain.center - voi.center) < 0.01 && Math.abs(voiAgain.width - voi.width) < 0.01, `${JSON.stringify(voiAgain)} after reload, ${JSON.stringify(voi)} before`);
  // The key image marked again.
  const keysAgain = await until(page, () => document.querySelector('[data-testid=key-image]')?.getAttribute('aria-pressed') === 'true' && window.yunying.reader.annotations.shown.keyImages(), null, { what: 'the key image mark' });
  assert.deepEqual(keysAgain, marked.keys);
  assert.equal((await keyState()).marked, true);
  // The arrow and its text.
  const [arrowAgain] = await arrows();
  assert.equal(arrowAgain?.label, '看这里 look');
  for (const k of [0, 1]) {
    assert.ok(Math.hypot(arrowAgain.points[k][0] - arrow.points[k][0], arrowAgain.points[k][1] - arrow.points[k][1]) < 0.01, `${arrowAgain.points} after reload, ${arrow.points} before`);
  }
  const again = await settled('Length', 'length');
  assert.ok(Math.abs(again.length - length.length) < 0.1, `length ${again.length} after reload, ${length.length} before`);
  const roiAgain = await settled('EllipticalROI', 'mean');
  assert.ok(Math.abs(roiAgain.area - roi.area) <= Math.max(0.5, roi.area * 0.005), `area ${roiAgain.area} after reload, ${roi.area} before`);
  assert.ok(Math.abs(roiAgain.mean - roi.mean) < 0.5, `mean ${roiAgain.mean} after reload, ${roi.mean} before`);
  assert.equal(roiAgain.modalityUnit, roi.modalityUnit);
  // Drawn on the image: a line and an ellipse in the viewport's SVG layer.
  const shapes = await page.$$eval('[data-panel=vp0] svg', (svgs) => svgs.flatMap((s) => [...s.querySelectorAll('line, ellipse, path')]).length);
  assert.ok(shapes >= 3, `${shapes} shapes drawn`);
  const words = await page.$$eval('[data-panel=vp0] svg text', (ts) => ts.map((x) => x.textContent).join(' '));
  assert.match(words, /看这里 look/);
});
