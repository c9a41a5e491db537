// Annotations that persist as DICOM, in headless Chromium against a running
// Yunying (YUNYING_URL; started by tests/it/annotations.rs with one CT of
// institution HOSP_A and its radiologist READER): a length and an ellipse
// ROI drawn with the mouse, saved (Ctrl+S), the page reloaded: the same
// length and the same ROI area and mean come back from the stored SR.
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

test('a length and an ellipse ROI drawn, saved and reloaded come back with the same values', async () => {
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
  await page.click('[data-testid=tool-window]');

  // Ctrl+S saves.
  await page.keyboard.press('Control+s');
  const status = await until(page, () => /saved/.test(window.yunying.reader.annotations.status) && window.yunying.reader.annotations.status, null, { what: 'saved' });
  assert.match(status, /^2 annotations saved/);

  // Reloaded: nothing drawn in this page; the saved set comes back.
  await page.reload();
  await until(page, () => window.yunying?.ready, null, { what: 'the viewer again' });
  if (!(await page.evaluate(() => location.hash.startsWith('#/study/')))) await page.click(`tr[data-study="${row}"]`);
  await shown();
  await until(page, () => /loaded/.test(window.yunying.reader?.annotations.status ?? ''), null, { what: 'annotations loaded' });
  const again = await settled('Length', 'length');
  assert.ok(Math.abs(again.length - length.length) < 0.1, `length ${again.length} after reload, ${length.length} before`);
  const roiAgain = await settled('EllipticalROI', 'mean');
  assert.ok(Math.abs(roiAgain.area - roi.area) <= Math.max(0.5, roi.area * 0.005), `area ${roiAgain.area} after reload, ${roi.area} before`);
  assert.ok(Math.abs(roiAgain.mean - roi.mean) < 0.5, `mean ${roiAgain.mean} after reload, ${roi.mean} before`);
  assert.equal(roiAgain.modalityUnit, roi.modalityUnit);
  // Drawn on the image: a line and an ellipse in the viewport's SVG layer.
  const shapes = await page.$$eval('[data-panel=vp0] svg', (svgs) => svgs.flatMap((s) => [...s.querySelectorAll('line, ellipse, path')]).length);
  assert.ok(shapes >= 2, `${shapes} shapes drawn`);
});
