// The cloud film page (/f#token) in headless Chromium, as a patient on a
// phone uses it: a film made through the management API (YUNYING_URL,
// YUNYING_API_TOKEN) for the study FILM_STUDY, verified by birth date
// (FILM_BIRTH_DATE). What the page displays is checked against the stored
// pixel values put through the DICOM window, read from DICOMweb
// independently of the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { launch, newPage, until } from './lib/browser.mjs';
import { flatPoints, frameValues, windowed, v } from './lib/dicom.mjs';

const BASE = process.env.YUNYING_URL;
const API_TOKEN = process.env.YUNYING_API_TOKEN;
const STUDY = process.env.FILM_STUDY;
const BIRTH = process.env.FILM_BIRTH_DATE;
const REPORT = '影像所见：双肺纹理清晰，未见实质性病变。\n诊断意见：胸部 CT 未见异常。';
let browser;

before(async () => {
  assert.ok(BASE && API_TOKEN && STUDY && BIRTH, 'YUNYING_URL, YUNYING_API_TOKEN, FILM_STUDY and FILM_BIRTH_DATE must be set');
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

async function api(method, path, body, type = 'application/json') {
  const r = await fetch(`${BASE}${path}`, {
    method,
    headers: { Authorization: `Bearer ${API_TOKEN}`, 'Content-Type': type },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${await r.clone().text()}`);
  return r.status === 204 ? null : r.json();
}

async function newFilm(extra = {}) {
  return api('POST', '/api/films', { study: STUDY, created_by: 'film-test', ...extra });
}

/** A phone: small screen, touch, Chinese. */
const phone = () => newPage(browser, { width: 390, height: 844, mobile: true });

const film = (page) => page.evaluate(() => window.yunyingFilm);

async function verify(page, answer) {
  await page.fill('[data-testid=answer]', answer);
  await page.click('[data-testid=verify]');
}

/** The canvas' pixels (grey) against the stored values through `center`/`width`. */
async function assertCanvasShows(page, sop, series, center, width) {
  const meta = (await (await fetch(`${BASE}/dicom-web/studies/${STUDY}/series/${series}/instances/${sop}/metadata`)).json())[0];
  const rows = v(meta, '00280010');
  const cols = v(meta, '00280011');
  const slope = Number(v(meta, '00281053') ?? 1);
  const intercept = Number(v(meta, '00281052') ?? 0);
  const values = await frameValues(`${BASE}/dicom-web`, STUDY, series, sop, { signed: v(meta, '00280103') === 1 });
  const points = flatPoints(values, rows, cols, { slope, intercept });
  assert.ok(points.length > 50, `flat regions to sample: ${points.length}`);
  const shown = await page.evaluate(([pts]) => {
    const c = document.querySelector('[data-testid=image]');
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height);
    return { w: c.width, h: c.height, grey: pts.map((p) => d.data[(p.row * c.width + p.col) * 4]) };
  }, [points]);
  assert.deepEqual([shown.h, shown.w], [rows, cols], 'the canvas holds the image at full resolution');
  let good = 0;
  const misses = [];
  points.forEach((p, k) => {
    const expected = windowed(p.hu, center, width);
    if (Math.abs(shown.grey[k] - expected) <= 8) good++;
    else if (misses.length < 5) misses.push({ ...p, expected, actual: shown.grey[k] });
  });
  assert.ok(good / points.length >= 0.97, `${good}/${points.length} pixels show window ${center}/${width}; e.g. ${JSON.stringify(misses)}`);
}

test('a patient opens a film: verification, first image in the default window, scroll, lung preset, report, ZIP', async () => {
  const made = await newFilm();
  await api('PUT', `/api/films/${made.film.film_id}/report`, REPORT, 'text/plain; charset=utf-8');
  const page = await phone();
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(made.url);
  await until(page, () => window.yunyingFilm?.stage === 'verify', null, { what: 'the verification form' });
  assert.match(await page.textContent('[data-testid=notice]'), /供患者查阅，非诊断用途 \/ for patient reference, not for diagnosis/);

  await verify(page, '1900-01-01');
  await until(page, () => window.yunyingFilm.attemptsLeft === 4, null, { what: 'the wrong answer is refused' });
  assert.match(await page.textContent('[data-testid=verify-message]'), /还可尝试 4 次/);
  assert.equal(await page.$('[data-testid=image]'), null, 'no image before verification');

  await verify(page, BIRTH);
  await until(page, () => window.yunyingFilm.painted > 0, null, { what: 'the first image' });
  const shot = await page.screenshot({ clip: await (await page.$('[data-testid=viewport]')).boundingBox() });
  assert.ok(new Set(shot.subarray(shot.length / 2, shot.length / 2 + 4000)).size > 16, 'the screenshot of the image is not blank');
  const facts = await page.textContent('[data-testid=facts]');
  assert.match(facts, /陈\*国/);
  assert.ok(!(await page.textContent('body')).includes('陈建国'), 'the full name is never shown');
  assert.match(await page.textContent('[data-testid=watermark]'), /陈\*国 本人查阅 \d{4}-\d\d-\d\d \d\d:\d\d/);
  for (const url of requests) assert.ok(!url.includes(made.url.split('#')[1]), `the token is in no request URL: ${url}`);

  // The first slice, in the dataset's default window.
  const state = await film(page);
  const [series, sop] = /series\/([0-9.]+)\/instances\/([0-9.]+)\/rendered$/.exec(state.paintedUrl).slice(1);
  const meta = (await (await fetch(`${BASE}/dicom-web/studies/${STUDY}/series/${series}/instances/${sop}/metadata`)).json())[0];
  await assertCanvasShows(page, sop, series, Number(v(meta, '00281050')), Number(v(meta, '00281051')));
  assert.equal(state.slice, 1);

  // Scroll: a swipe, the wheel, the keys.
  const box = await (await page.$('[data-testid=viewport]')).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, 100);
  await until(page, () => window.yunyingFilm.slice === 3, null, { what: 'wheel to slice 3' });
  for (let i = 0; i < 3; i++) await page.keyboard.press('ArrowDown');
  await until(page, () => window.yunyingFilm.slice === 6, null, { what: 'keys to slice 6' });
  const swipe = await page.evaluate(async () => {
    const vp = document.querySelector('[data-testid=viewport]');
    const r = vp.getBoundingClientRect();
    const at = (type, y) => vp.dispatchEvent(new PointerEvent(type, { pointerId: 7, pointerType: 'touch', clientX: r.x + 100, clientY: y, bubbles: true, isPrimary: true }));
    at('pointerdown', r.y + 100);
    for (let y = 100; y <= 148; y += 12) at('pointermove', r.y + y);
    at('pointerup', r.y + 148);
    return true;
  });
  assert.ok(swipe);
  await until(page, () => window.yunyingFilm.slice === 10, null, { what: 'a swipe of 48 px to slice 10' });

  // The lung preset: the server renders the window from the original pixels.
  await page.click('[data-testid=preset-lung]');
  await until(page, () => window.yunyingFilm.paintedUrl.endsWith('window=-600,1500'), null, { what: 'the lung window painted' });
  const lung = await film(page);
  const [lungSeries, lungSop] = /series\/([0-9.]+)\/instances\/([0-9.]+)\/rendered/.exec(lung.paintedUrl).slice(1);
  assert.equal(lung.slice, 10);
  await assertCanvasShows(page, lungSop, lungSeries, -600, 1500);

  // Drag window/level from the lung window: the server renders the new one.
  await page.click('[data-testid=tool]');
  await page.evaluate(() => {
    const vp = document.querySelector('[data-testid=viewport]');
    const r = vp.getBoundingClientRect();
    const at = (type, x, y) => vp.dispatchEvent(new PointerEvent(type, { pointerId: 3, pointerType: 'mouse', clientX: r.x + x, clientY: r.y + y, bubbles: true, isPrimary: true }));
    at('pointerdown', 100, 100);
    for (let k = 1; k <= 6; k++) at('pointermove', 100 + 10 * k, 100 + 5 * k);
    at('pointerup', 160, 130);
  });
  // 60 px right widens by e^(60/200), 30 px down raises the centre by 30 × 1500/400.
  await until(page, () => window.yunyingFilm.preset === 'custom' && /window=-487,2025$/.test(window.yunyingFilm.paintedUrl), null, { what: 'the dragged window painted' });
  await assertCanvasShows(page, lungSop, lungSeries, -487, 2025);

  // Pinch: two fingers moving apart zoom in.
  await page.evaluate(() => {
    const vp = document.querySelector('[data-testid=viewport]');
    const r = vp.getBoundingClientRect();
    const at = (type, id, x) => vp.dispatchEvent(new PointerEvent(type, { pointerId: id, pointerType: 'touch', clientX: r.x + x, clientY: r.y + 200, bubbles: true, isPrimary: id === 11 }));
    at('pointerdown', 11, 150);
    at('pointerdown', 12, 250);
    at('pointermove', 12, 300);
    at('pointermove', 11, 100);
    at('pointerup', 12, 300);
    at('pointerup', 11, 100);
  });
  assert.match(await page.$eval('[data-testid=image]', (c) => c.style.transform), /scale\(2\)/, 'fingers twice as far apart zoom 2×');
  assert.equal((await film(page)).slice, 10, 'a pinch does not scroll');

  // The report.
  await page.click('[data-testid=report-open]');
  await until(page, () => document.querySelector('[data-testid=report-text]')?.textContent.includes('未见异常'), null, { what: 'the report' });

  // The ZIP, with the page's session.
  const zip = await page.context().request.get(`${BASE}/api/film/${made.film.film_id}/download`);
  assert.equal(zip.status(), 200);
  const dir = mkdtempSync(join(tmpdir(), 'film-zip-'));
  writeFileSync(join(dir, 'film.zip'), await zip.body());
  const count = execFileSync('python3', ['-c', `
import sys, zipfile, pydicom
from pydicom.fileset import FileSet
zipfile.ZipFile(sys.argv[1] + '/film.zip').extractall(sys.argv[1])
fs = FileSet(pydicom.dcmread(sys.argv[1] + '/DICOMDIR'))
print(sum(1 for i in fs if i.load().StudyInstanceUID == sys.argv[2]))`, dir, STUDY]).toString().trim();
  const slices = (await film(page)).slices;
  assert.equal(Number(count), slices, 'pydicom reads the DICOMDIR and every instance it names');
  const dump = execFileSync('/usr/bin/dcmdump', ['+P', '0004,1430', join(dir, 'DICOMDIR')]).toString();
  assert.match(dump, /\[PATIENT ?\]/);
  await page.context().close();
});

test('the patient shares with a doctor, who opens the full viewer through the share', async () => {
  const made = await newFilm();
  const patient = await phone();
  await patient.goto(made.url);
  await until(patient, () => window.yunyingFilm?.stage === 'verify', null, { what: 'the verification form' });
  await verify(patient, BIRTH);
  await until(patient, () => window.yunyingFilm.painted > 0, null, { what: 'the first image' });
  await patient.fill('[data-testid=share-recipient]', '李医生 第二医院');
  await patient.fill('[data-testid=share-purpose]', '会诊');
  await patient.click('[data-testid=share-create]');
  await until(patient, () => document.querySelector('[data-testid=share-code]')?.textContent.length === 6, null, { what: 'the share link and code' });
  const link = await patient.inputValue('[data-testid=share-url]');
  const code = await patient.textContent('[data-testid=share-code]');
  assert.ok(!link.includes(code), 'the code is not in the link');
  await until(patient, () => document.querySelectorAll('[data-testid=share-revoke]').length === 1, null, { what: 'the share listed' });

  const doctor = await newPage(browser);
  await doctor.goto(link);
  await until(doctor, () => window.yunyingFilm?.stage === 'verify', null, { what: "the doctor's verification form" });
  await verify(doctor, code);
  await until(doctor, () => window.yunyingFilm.painted > 0, null, { what: "the doctor's first image" });
  assert.match(await doctor.textContent('[data-testid=watermark]'), /李医生 第二医院/);
  await doctor.click('[data-testid=full-viewer]');
  await until(doctor, () => { const s = window.yunying?.reader?.panels?.[0]?.state(); return s?.firstImage && s.count > 0; }, null, { what: 'the full viewer through the share', timeout: 60000 });
  const requests = [];
  doctor.on('request', (r) => requests.push(r.url()));
  await doctor.keyboard.press('ArrowDown');
  await until(doctor, () => window.yunying.reader.panels[0].state().index === 1, null, { what: 'scrolling in the full viewer' });
  for (const u of requests.filter((u) => u.includes('/studies/'))) assert.match(u, /\/api\/film\/F[^/]+\/dicom-web\//, `the viewer reads through the share: ${u}`);
  await doctor.context().close();
  await patient.context().close();
});

test('five wrong answers lock the film, with a clear message', async () => {
  const made = await newFilm();
  const page = await phone();
  await page.goto(made.url);
  await until(page, () => window.yunyingFilm?.stage === 'verify', null, { what: 'the verification form' });
  for (let left = 4; left >= 1; left--) {
    await verify(page, '2000-01-01');
    await until(page, (n) => window.yunyingFilm.attemptsLeft === n, left, { what: `${left} attempts left` });
    // The page's language only (zh-CN here): no English first.
    const said = await page.textContent('[data-testid=verify-message]');
    assert.match(said, new RegExp(`还可尝试 ${left} 次`));
    assert.doesNotMatch(said, /wrong answer|attempts left/);
  }
  await verify(page, '2000-01-01');
  await until(page, () => window.yunyingFilm.stage === 'closed', null, { what: 'the locked page' });
  assert.match(await page.textContent('[data-testid=closed]'), /胶片已锁定/);
  assert.doesNotMatch(await page.textContent('[data-testid=closed]'), /too many wrong answers/);
  // The right answer no longer opens it, from the page or anywhere else.
  await page.reload();
  await until(page, () => window.yunyingFilm?.stage === 'closed', null, { what: 'locked after reload' });
  const r = await fetch(`${BASE}/api/film/verify`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token: made.url.split('#')[1], answer: BIRTH }) });
  assert.equal(r.status, 423);
  await page.context().close();
});

for (const [how, end, message] of [
  ['revoked', (id) => api('POST', `/api/films/${id}/revoke`), /此链接已被撤销/],
  ['expired', (id) => api('POST', `/api/films/${id}/expires`, { expires_at_ms: Date.now() }), /此链接已过期/],
]) {
  test(`a ${how} link shows a clear page and no image data from any URL`, async () => {
    const made = await newFilm();
    const page = await phone();
    await page.goto(made.url);
    await until(page, () => window.yunyingFilm?.stage === 'verify', null, { what: 'the verification form' });
    await verify(page, BIRTH);
    await until(page, () => window.yunyingFilm.painted > 0, null, { what: 'the first image' });
    const { paintedUrl } = await film(page);
    const id = made.film.film_id;
    const urls = [paintedUrl, `${paintedUrl}?window=40,400`, paintedUrl.replace(/\/instances\/.*/, '/thumbnail'), `/api/film/${id}/info`, `/api/film/${id}/download`,
      `/api/film/${id}/dicom-web/studies/${STUDY}/series`, `/api/film/${id}/report/uploaded`];
    await end(id);
    await page.reload();
    await until(page, () => window.yunyingFilm?.stage === 'closed', null, { what: `the ${how} page` });
    assert.match(await page.textContent('[data-testid=closed]'), message);
    const answers = await page.evaluate(async (list) => Promise.all(list.map(async (u) => {
      const r = await fetch(u);
      return { u, status: r.status, type: r.headers.get('content-type') ?? '' };
    })), urls);
    for (const a of answers) {
      assert.ok(a.status >= 400 && !a.type.startsWith('image/') && !a.type.includes('zip') && !a.type.includes('dicom'), `${a.u}: ${a.status} ${a.type}`);
    }
    await page.context().close();
  });
}
