// Scout lines (viewer/src/scout.ts) against a running Yunying (YUNYING_URL)
// holding one CT study of VIEWER_PATIENT_ID: an axial series and a coronal
// localizer in the same frame of reference (testdata/gen_ct_series.py
// --scout), in headless Chromium. With the axial series active on the left
// and the scout on the right, the scout shows a line where the axial slice
// is: at the slice's table position as the DICOM headers give it, moving
// with the slice as the reader scrolls; O hides and shows it; two axial
// images show none (parallel planes do not cut). Started by
// tests/it/viewer_scout.rs, in Chromium or Firefox.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { qido, v } from './lib/dicom.mjs';

const BASE = process.env.YUNYING_URL;
const DICOMWEB = `${BASE}/dicom-web`;
const PATIENT = process.env.VIEWER_PATIENT_ID;
let browser;
let page;
let study;
let axial;
let scout;
/** Table position (z, mm) of each axial instance, by SOP Instance UID. */
const zOf = new Map();

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must point at a running Yunying');
  const [s] = await qido(DICOMWEB, '/studies', { PatientID: PATIENT });
  study = v(s, '0020000D');
  const series = await qido(DICOMWEB, `/studies/${study}/series`);
  assert.equal(series.length, 2, 'the axial series and its scout');
  scout = v(series.find((x) => v(x, '0008103E') === 'Scout'), '0020000E');
  axial = v(series.find((x) => v(x, '0008103E') !== 'Scout'), '0020000E');
  for (const i of await qido(DICOMWEB, `/studies/${study}/series/${axial}/instances`, { includefield: '00200032' })) {
    zOf.set(v(i, '00080018'), Number(i['00200032'].Value[2]));
  }
  browser = await launch();
  page = await newPage(browser, { width: 1300, height: 900, locale: 'en-US' });
  await page.goto(`${BASE}/viewer/?lang=en#/study/${study}`);
  await until(page, () => window.yunying?.reader?.panels[0]?.state().firstImage, null, { what: 'first image' });
});

after(async () => {
  await browser?.close();
});

/** Show `series` in viewport `vp` as a user does: click the viewport, then the series. */
async function showIn(vp, series) {
  await page.click(`[data-panel=${vp}] .cs`);
  await page.click(`.series-item[data-series="${series}"]`);
  await until(page, ([vp, series]) => {
    const p = window.yunying.reader.panels.find((x) => x.id === vp);
    const s = p?.state();
    return s?.series === series && s.shown;
  }, [vp, series], { what: `${series} in ${vp}` });
}

/** The scout line drawn on viewport `vp`, as table positions (z, mm) of its two ends; null if none. */
const lineOn = (vp) => page.evaluate((vp) => {
  const p = window.yunying.reader.panels.find((x) => x.id === vp);
  const lines = [...p.element.querySelectorAll('svg line')];
  if (!lines.length) return null;
  const l = lines[0];
  const ends = [[+l.getAttribute('x1'), +l.getAttribute('y1')], [+l.getAttribute('x2'), +l.getAttribute('y2')]];
  return { count: lines.length, z: ends.map((e) => p.viewport.canvasToWorld(e)[2]), y: ends.map((e) => e[1]) };
}, vp);

/** The SOP Instance UID of the image shown in the first viewport. */
const shownSop = () => page.evaluate(() => /\/instances\/([^/]+)\/frames/.exec(window.yunying.reader.panels[0].viewport.getCurrentImageId())[1]);

test('the scout shows where the axial slice is, and follows it', async () => {
  await page.click('[data-testid=layout-1x2]');
  await until(page, () => window.yunying.reader.panels.length === 2 && window.yunying.reader.panels[1].viewport, null, { what: 'two viewports' });
  await showIn('vp1', scout);
  await showIn('vp0', axial);
  assert.equal(await page.getAttribute('[data-testid=scout-lines]', 'class'), 'on');
  for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowDown');
  await until(page, () => window.yunying.reader.panels[0].state().index === 5, null, { what: 'slice 6' });
  let want = zOf.get(await shownSop());
  let line = await until(page, (z) => {
    const p = window.yunying.reader.panels[1];
    const l = p.element.querySelector('svg line');
    if (!l) return null;
    const at = p.viewport.canvasToWorld([+l.getAttribute('x1'), +l.getAttribute('y1')])[2];
    return Math.abs(at - z) < 0.5 && at;
  }, want, { what: `the scout line at z ${want}` });
  const first = await lineOn('vp1');
  assert.equal(first.count, 1, 'one line');
  for (const z of first.z) assert.ok(Math.abs(z - want) < 0.5, `the line lies at the slice's z ${want}: ${first.z}`);
  assert.ok(Math.abs(first.y[0] - first.y[1]) < 0.5, 'across the coronal scout, the line is horizontal');

  // Ten slices on (1 mm each, towards the feet): the line moves down the scout by 10 mm.
  for (let i = 0; i < 10; i++) await page.keyboard.press('ArrowDown');
  await until(page, () => window.yunying.reader.panels[0].state().index === 15, null, { what: 'slice 16' });
  const before = want;
  want = zOf.get(await shownSop());
  assert.ok(Math.abs(before - want - 10) < 0.01, `ten 1 mm slices on: ${before} → ${want}`);
  line = await until(page, (z) => {
    const l = window.yunying.reader.panels[1].element.querySelector('svg line');
    const at = l && window.yunying.reader.panels[1].viewport.canvasToWorld([+l.getAttribute('x1'), +l.getAttribute('y1')])[2];
    return l && Math.abs(at - z) < 0.5 && at;
  }, want, { what: `the scout line at z ${want}` });
  const moved = await lineOn('vp1');
  const mmPerPixel = await page.evaluate(() => {
    const vp = window.yunying.reader.panels[1].viewport;
    return Math.abs(vp.canvasToWorld([0, 100])[2] - vp.canvasToWorld([0, 0])[2]) / 100;
  });
  assert.ok(Math.abs((moved.y[0] - first.y[0]) * mmPerPixel - 10) < 1, `down by 10 mm on the scout: ${first.y[0]} → ${moved.y[0]} px at ${mmPerPixel} mm/px`);

  // O hides the lines, and shows them again.
  await page.keyboard.press('o');
  await until(page, () => !window.yunying.reader.panels[1].element.querySelector('svg line') && window.yunying.reader.scout === false, null, { what: 'no line' });
  assert.equal(await page.getAttribute('[data-testid=scout-lines]', 'class'), '');
  await page.keyboard.press('o');
  await until(page, () => !!window.yunying.reader.panels[1].element.querySelector('svg line'), null, { what: 'the line back' });
});

test('with the scout active, the axial image shows no line of it; two axial images show none', async () => {
  // The coronal scout's plane cuts the axial image: a vertical line there.
  await page.click('[data-panel=vp1] .cs');
  const onAxial = await until(page, () => {
    const l = window.yunying.reader.panels[0].element.querySelector('svg line');
    return l && { x1: +l.getAttribute('x1'), x2: +l.getAttribute('x2'), y1: +l.getAttribute('y1'), y2: +l.getAttribute('y2') };
  }, null, { what: "the scout's plane on the axial image" });
  assert.ok(Math.abs(onAxial.y1 - onAxial.y2) < 0.5, `the coronal plane crosses the axial image left to right: ${JSON.stringify(onAxial)}`);
  // The axial series in both: parallel planes, no line.
  await showIn('vp1', axial);
  await page.waitForTimeout(300);
  assert.equal(await lineOn('vp0'), null);
  assert.equal(await lineOn('vp1'), null);
});
