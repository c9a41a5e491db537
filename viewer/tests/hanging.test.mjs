// Hanging protocols, priors that line up and the prior's report, in
// headless Chromium or Firefox (lib/browser.mjs) against a running Yunying (tests/it/viewer_hanging.rs):
// two CT chest studies of one patient (CURRENT_STUDY, PRIOR_STUDY: a month
// and 10 mm of table apart), the prior holding an SR report with FINDINGS
// and IMPRESSION. RAD_COOKIE is a radiologist's session, ADMIN_COOKIE the
// system administrator's.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';

const BASE = process.env.YUNYING_URL;
const CURRENT = process.env.CURRENT_STUDY;
const PRIOR = process.env.PRIOR_STUDY;
const SOFT = { center: 40, width: 400 };
const LUNG = { center: -600, width: 1500 };
const BONE = { center: 300, width: 1500 };
const BRAIN = { center: 40, width: 80 };

let browser;
let page;

async function signedIn(cookie) {
  const p = await newPage(browser, { width: 1400, height: 1000, locale: 'en-US' });
  const [name, value] = cookie.split(';')[0].split('=');
  await p.context().addCookies([{ name, value, url: BASE }]);
  return p;
}

before(async () => {
  for (const k of ['YUNYING_URL', 'RAD_COOKIE', 'ADMIN_COOKIE', 'CURRENT_STUDY', 'PRIOR_STUDY', 'FINDINGS', 'IMPRESSION']) assert.ok(process.env[k], `${k} must be set`);
  browser = await launch();
  page = await signedIn(process.env.RAD_COOKIE);
});

after(async () => {
  await browser?.close();
});

/** Each viewport shown: its study, series, window, position and whether its first image is in. */
const viewports = (p = page) => p.evaluate(() => {
  const r = window.yunying.reader;
  return [...document.querySelectorAll('.grid [data-panel]')].map((el) => {
    const panel = r.panels.find((x) => x.id === el.dataset.panel);
    const s = panel.state();
    return { id: panel.id, study: panel.study?.uid, series: s.series, voi: s.voi, position: s.position, index: s.index, count: s.count, firstImage: s.firstImage };
  });
});

/** Wait for `count` viewports, each with its first image and (when given) the window `want[i]`. */
async function settled(count, want = [], p = page) {
  return until(p, ([count, want]) => {
    const r = window.yunying?.reader;
    const els = [...document.querySelectorAll('.grid [data-panel]')];
    if (!r || els.length !== count) return false;
    const states = els.map((el) => r.panels.find((x) => x.id === el.dataset.panel).state());
    const ok = states.every((s, i) => s.firstImage && (!want[i] || (s.voi && Math.abs(s.voi.center - want[i].center) < 1 && Math.abs(s.voi.width - want[i].width) < 1)));
    return ok && states;
  }, [count, want], { what: `${count} viewports with their windows ${JSON.stringify(want)}` });
}

/** After "compare": the study and the prior side by side, each with its image. */
const compared = () => until(page, (prior) => {
  const p = window.yunying.reader.panels;
  return document.querySelectorAll('.grid [data-panel]').length === 2 && p[1].study?.uid === prior && p[0].state().firstImage && p[1].state().firstImage
    && window.yunying.reader.hanging && [p[0].state(), p[1].state()];
}, PRIOR, { what: 'the prior beside the study' });

const hanging = (p = page) => p.evaluate(() => window.yunying.reader.hanging.state());

async function open(p = page) {
  // A new document each time (a query of its own), not a change of hash.
  await p.goto(`${BASE}/viewer/?lang=en&at=${Date.now()}#/study/${CURRENT}`);
  await until(p, () => window.yunying?.reader?.study, null, { what: 'the reader' });
}

test('a CT chest with a prior opens in the CT chest protocol: mediastinal and lung windows, the prior below', async () => {
  await open();
  await settled(4, [SOFT, LUNG, SOFT, LUNG]);
  const state = await hanging();
  assert.equal(state.protocol, 'ct-chest-prior');
  assert.deepEqual(state.choices, ['ct-chest-prior']);
  assert.equal(await page.getAttribute('.grid', 'data-layout'), '2x2');
  assert.equal(await page.inputValue('[data-testid=hanging]'), 'ct-chest-prior');
  const shown = await viewports();
  assert.deepEqual(shown.map((v) => v.study), [CURRENT, CURRENT, PRIOR, PRIOR]);
  assert.equal(shown[0].series, shown[1].series);
  assert.equal(shown[2].series, shown[3].series);
  assert.notEqual(shown[0].series, shown[2].series);
  assert.ok(shown.every((v) => v.count === 60), JSON.stringify(shown));
  // Different frames of reference, the table 10 mm apart, the same anatomy slice for slice: once
  // loaded, the prior is lined up by its profile of intensity along z, 10 mm up the table.
  const estimated = await until(page, (prior) => window.yunying.reader.hanging.state().estimated[prior], PRIOR, { what: 'the prior lined up by anatomy' });
  assert.ok(Math.abs(estimated - 10) <= 1, `estimated ${estimated} mm`);
  const lined = await until(page, (d) => {
    const p = window.yunying.reader.panels.map((x) => x.state());
    return p[2].shown && p[3].shown && Math.abs(p[2].position[2] - p[0].position[2] - d) <= 0.5 && Math.abs(p[3].position[2] - p[0].position[2] - d) <= 0.5 && p;
  }, estimated, { what: 'the prior viewports at the estimated offset' });
  assert.equal(lined[2].index, lined[0].index, 'the same anatomy: the same slice of the two 60-slice stacks');
  await settled(4, [SOFT, LUNG, SOFT, LUNG]);
  // Scrolling the study keeps that offset.
  await page.click('[data-panel=vp0]');
  for (let i = 0; i < 5; i++) await page.keyboard.press('ArrowDown');
  await until(page, ([i, d]) => {
    const p = window.yunying.reader.panels.map((x) => x.state());
    return p[0].index === i && Math.abs(p[2].position[2] - p[0].position[2] - d) <= 0.5;
  }, [lined[0].index + 5, estimated], { what: 'the prior follows at the estimated offset' });
});

test("the prior's report (its SR's findings and impression) is shown beside it, collapsible", async () => {
  const selector = `[data-panel=vp2] [data-testid=prior-report][data-study="${PRIOR}"]`;
  await until(page, (s) => document.querySelector(s)?.textContent.includes('Impression'), selector, { what: "the prior's report" });
  const text = await page.textContent(selector);
  assert.ok(text.includes(process.env.FINDINGS), text);
  assert.ok(text.includes(process.env.IMPRESSION), text);
  assert.match(text, /Findings/);
  // Once per prior, and never over the study's own viewports.
  assert.equal(await page.$$eval('[data-testid=prior-report]', (els) => els.length), 1);
  assert.equal(await page.$eval(selector, (d) => d.open), true);
  await page.click(`${selector} summary`);
  assert.equal(await page.$eval(selector, (d) => d.open), false);
});

test('h and the dropdown switch protocols, and back to the manual layout', async () => {
  await page.click('[data-panel=vp0]');
  // The only protocol that matches, then (h again) the manual layout: one viewport, the dataset's window.
  await page.keyboard.press('h');
  await settled(1, [SOFT]);
  assert.equal((await hanging()).protocol, undefined);
  assert.equal(await page.getAttribute('.grid', 'data-layout'), '1x1');
  assert.equal(await page.inputValue('[data-testid=hanging]'), '');
  assert.deepEqual((await viewports()).map((v) => v.study), [CURRENT]);
  await page.keyboard.press('h');
  await settled(4, [SOFT, LUNG, SOFT, LUNG]);
  assert.equal((await hanging()).protocol, 'ct-chest-prior');
  await page.selectOption('[data-testid=hanging]', '');
  await settled(1);
  assert.equal(await page.getAttribute('.grid', 'data-layout'), '1x1');
  await page.selectOption('[data-testid=hanging]', 'ct-chest-prior');
  await settled(4, [SOFT, LUNG, SOFT, LUNG]);
  assert.deepEqual((await viewports()).map((v) => v.study), [CURRENT, CURRENT, PRIOR, PRIOR]);
});

const mine = {
  protocols: [{
    id: 'chest-mine', name: '胸部对比 · my chest comparison',
    match: { modalities: ['CT'], description: 'chest\\s+synthetic', minPriors: 1 },
    layout: '1x3',
    viewports: [{ series: { prior: 1 }, preset: 'bone' }, { series: { modality: 'CT' }, preset: 'brain' }, { series: { modality: 'MR' } }],
  }],
};

async function put(cookie, body) {
  const r = await fetch(`${BASE}/api/viewer/hanging-protocols`, {
    method: 'PUT', headers: { 'Content-Type': 'application/json', Cookie: cookie.split(';')[0] }, body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => ({})) };
}

test('only the system administrator replaces the protocols; the refusal of a bad list says where', async () => {
  const refused = await put(process.env.RAD_COOKIE, mine);
  assert.equal(refused.status, 403, JSON.stringify(refused));
  const bad = await put(process.env.ADMIN_COOKIE, { protocols: [{ ...mine.protocols[0], layout: '4x4', match: { description: '(' } }] });
  assert.equal(bad.status, 400, JSON.stringify(bad));
  assert.match(bad.body.error, /protocols\[0\]\.match\.description/);
  assert.match(bad.body.error, /protocols\[0\]\.layout/);
  const read = await page.evaluate(async () => (await fetch('/api/viewer/hanging-protocols')).json());
  assert.equal(read.stored, false, 'nothing stored yet: the built-in list');
});

test('the administrator edits the list on the administration page, with problems shown before saving', async () => {
  const admin = await signedIn(process.env.ADMIN_COOKIE);
  await admin.goto(`${BASE}/viewer/?lang=en#/admin`);
  await until(admin, () => document.querySelector('[data-testid=hanging-json]')?.value.includes('ct-chest-prior'), null, { what: 'the hanging protocols section' });
  await admin.fill('[data-testid=hanging-json]', JSON.stringify({ protocols: [{ ...mine.protocols[0], viewports: [{ series: { prior: 12 } }] }] }));
  await admin.click('[data-testid=hanging-save]');
  const problems = await until(admin, () => document.querySelector('[data-testid=hanging-problems]').textContent || null, null, { what: 'problems shown' });
  assert.match(problems, /protocols\[0\]\.viewports\[0\]\.series: prior is 0 to 9/);
  await admin.fill('[data-testid=hanging-json]', JSON.stringify(mine, null, 2));
  await admin.click('[data-testid=hanging-save]');
  await until(admin, () => document.querySelector('[data-testid=hanging-status]').textContent === 'Saved', null, { what: 'saved' });
  assert.match(await admin.textContent('[data-testid=hanging-info]'), /hang\.sys|Changed by/);
  await admin.context().close();
  const read = await page.evaluate(async () => (await fetch('/api/viewer/hanging-protocols')).json());
  assert.equal(read.stored, true);
  assert.deepEqual(read.protocols.map((p) => p.id), ['chest-mine']);
});

test("the reader picks up the administrator's rule: 1×3, the prior in bone, the study in the brain window", async () => {
  await open();
  await until(page, () => window.yunying.reader.hanging.state().protocol === 'chest-mine', null, { what: 'the new protocol' });
  assert.equal(await page.getAttribute('.grid', 'data-layout'), '1x3');
  await until(page, () => { const p = window.yunying.reader.panels; return p[0].state().firstImage && p[1].state().firstImage; }, null, { what: 'two images' });
  await until(page, () => Math.round(window.yunying.reader.panels[1].state().voi?.width) === 80, null, { what: 'the brain window' });
  const shown = await viewports();
  assert.deepEqual(shown.map((v) => v.study), [PRIOR, CURRENT, undefined], 'no MR series: the third viewport stays empty');
  assert.deepEqual([shown[0].voi, shown[1].voi].map((v) => [Math.round(v.center), Math.round(v.width)]), [[BONE.center, BONE.width], [BRAIN.center, BRAIN.width]]);
  assert.equal(await page.inputValue('[data-testid=hanging]'), 'chest-mine');
});

test('an offset lined up by hand is remembered for the pair and used when they are compared again', async () => {
  await page.selectOption('[data-testid=hanging]', '');
  await settled(1);
  // Keys go to the images, not to the dropdown just used.
  await page.click('[data-panel=vp0]');
  for (let i = 0; i < 3; i++) await page.keyboard.press('PageDown');
  await until(page, () => window.yunying.reader.panels[0].state().index === 30, null, { what: 'slice 31' });
  await page.click(`[data-prior="${PRIOR}"] [data-testid=compare]`);
  let [left, right] = await compared();
  assert.equal((await viewports())[1].study, PRIOR);
  assert.ok(Math.abs(right.position[2] - left.position[2]) <= 0.5, 'first time: the same table position');
  // Synchronised scrolling off, the prior moved 7 slices to line the anatomy up, on again.
  await page.click('[data-testid=sync]');
  await page.click('[data-panel=vp1]');
  for (let i = 0; i < 7; i++) await page.keyboard.press('ArrowDown');
  await until(page, (i) => window.yunying.reader.panels[1].state().index === i, right.index + 7, { what: 'the prior moved alone' });
  assert.equal((await page.evaluate(() => window.yunying.reader.panels[0].state().index)), left.index, 'the study stayed');
  await page.click('[data-testid=sync]');
  const moved = await page.evaluate(() => window.yunying.reader.panels[1].state().position[2]);
  const offset = moved - left.position[2];
  assert.ok(Math.abs(offset) >= 6, `offset ${offset}`);
  const stored = await page.evaluate(([a, b]) => JSON.parse(localStorage.getItem(`yunying.prior-offset:${a}:${b}`)), [CURRENT, PRIOR]);
  assert.ok(Math.abs(stored[2] - offset) < 0.01, `stored ${stored} offset ${offset}`);
  // Synchronised again at that offset: scrolling the study keeps it.
  await page.click('[data-panel=vp0]');
  for (let i = 0; i < 4; i++) await page.keyboard.press('ArrowDown');
  await until(page, (o) => { const p = window.yunying.reader.panels; return p[0].state().shown && Math.abs(p[1].state().position[2] - p[0].state().position[2] - o) < 0.5; }, offset, { what: 'the prior follows at the offset' });

  // Opened again: the prior comes up at the remembered offset, not at the table position.
  await open();
  await until(page, () => window.yunying.reader.hanging.state().protocol === 'chest-mine', null, { what: 'the protocol applied' });
  await until(page, () => { const p = window.yunying.reader.panels; return p[0].state().firstImage && p[1].state().firstImage && Math.round(p[0].state().voi?.width) === 1500; }, null, { what: 'its images' });
  await page.selectOption('[data-testid=hanging]', '');
  await settled(1);
  await page.click('[data-panel=vp0]');
  for (let i = 0; i < 2; i++) await page.keyboard.press('PageDown');
  await until(page, () => window.yunying.reader.panels[0].state().index === 20, null, { what: 'slice 21' });
  await page.click(`[data-prior="${PRIOR}"] [data-testid=compare]`);
  [left, right] = await compared();
  assert.ok(Math.abs(right.position[2] - left.position[2] - offset) <= 0.5, `again: ${right.position[2] - left.position[2]} mm, remembered ${offset} mm`);

  // The built-in list again.
  const r = await fetch(`${BASE}/api/viewer/hanging-protocols`, { method: 'DELETE', headers: { 'Content-Type': 'application/json', Cookie: process.env.ADMIN_COOKIE.split(';')[0] } });
  assert.equal(r.status, 200);
  assert.equal((await r.json()).stored, false);
});
