// Mutual recognition in the viewer (tests/it/recognition.rs sets it up):
// hospital B's radiologist (B_USER) cannot open hospital A's study
// (STUDY) before the recognition request, can after it, from the
// recognition panel of B's order ORDER_1, and records "recognised"; on
// ORDER_2 "not recognised", reason 3, patient informed (refused first
// without telling the patient). Hospital A's radiologist (A_USER) sees
// nothing of B's orders. B's institution administrator (B_ADMIN) reads
// both decisions on the dashboard of the administration page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { secretOf, signInPage, submitPassword, totp } from './lib/signin.mjs';

const BASE = process.env.YUNYING_URL;
const { STUDY, ORDER_1, ORDER_2, B_USER, A_USER, B_ADMIN, PASSWORD } = process.env;
let browser;
let page;

before(async () => {
  assert.ok(BASE && STUDY && ORDER_1 && ORDER_2 && B_USER && A_USER && B_ADMIN && PASSWORD, 'YUNYING_URL, STUDY, ORDER_1, ORDER_2, B_USER, A_USER, B_ADMIN, PASSWORD');
  browser = await launch();
  page = await newPage(browser, { locale: 'en-GB' });
});

after(async () => {
  await browser?.close();
});

async function signIn(p, user) {
  await p.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(p);
  await submitPassword(p, user, PASSWORD);
  await until(p, () => window.yunying?.ready && document.querySelector('[data-testid=who-name]'), null, { what: 'signed in' });
}

const go = (p, hash) => p.evaluate((h) => { location.hash = h; }, hash);
const panel = (p) => until(p, () => window.yunying.ready && document.querySelector('[data-testid=recognition-panel]'), null, { what: 'the recognition panel' });
const displayed = (p) => until(p, () => { const s = window.yunying.reader?.panels[0]?.state(); return s?.count > 0 && s.firstImage && s; }, null, { what: 'the images displayed' });

test("B's doctor cannot open A's study before the recognition request", async () => {
  await signIn(page, B_USER);
  await go(page, `#/study/${STUDY}`);
  const message = await until(page, () => document.querySelector('[data-testid=refusal-message]')?.textContent, null, { what: 'the refusal' });
  assert.ok(message.length > 0);
  assert.equal(await page.evaluate(() => window.yunying.reader), undefined);
});

test('the panel offers A\'s result with its HR mark; opening it shows the images under a recognition grant', async () => {
  await go(page, `#/recognition/${ORDER_1}?study=${STUDY}`);
  await panel(page);
  assert.equal(await page.textContent('[data-testid=recognition-item]'), '胸部CT平扫 (CT-CHEST)');
  const candidates = await page.$$eval('[data-testid=recognition-candidate]', (els) => els.map((e) => ({ study: e.dataset.study, text: e.textContent })));
  assert.equal(candidates.length, 1);
  assert.equal(candidates[0].study, STUDY);
  assert.match(candidates[0].text, /HOSP_A · 2026-11-01 · 35 days before/);
  assert.match(await page.textContent('[data-testid=recognition-hr]'), /HR quality mark 330100/);
  // Not open yet: the request button, no images.
  await until(page, () => document.querySelector('[data-testid=recognition-open]'), null, { what: 'the open button' });
  assert.equal(await page.evaluate(() => window.yunying.reader), undefined);
  await page.click('[data-testid=recognition-open]');
  const state = await displayed(page);
  assert.ok(state.count >= 1);
  assert.equal(await page.getAttribute('[data-testid=access-banner]', 'data-kind'), 'recognition');
  // The plain study address opens now too (the grant is the doctor's).
  await go(page, `#/study/${STUDY}`);
  await displayed(page);
  await go(page, `#/recognition/${ORDER_1}?study=${STUDY}`);
  await displayed(page);
});

test('recorded as recognised, with how long the images were open', async () => {
  await new Promise((r) => setTimeout(r, 1200));
  await page.click('[data-testid=recognition-submit]');
  const outcome = await until(page, () => document.querySelector('[data-testid=recognition-decided]')?.dataset.outcome, null, { what: 'the decision' });
  assert.equal(outcome, 'recognised');
  const opened = Number(await page.getAttribute('[data-testid=recognition-opened]', 'data-ms'));
  assert.ok(opened >= 1000, `the images were open from the first request to the decision: ${opened} ms`);
  assert.match(await page.textContent('[data-testid=recognition-opened]'), /Images open for \d+ s/);
  // Shown again from the server.
  await page.reload();
  await panel(page);
  assert.equal(await until(page, () => document.querySelector('[data-testid=recognition-decided]')?.dataset.outcome, null, { what: 'the stored decision' }), 'recognised');
});

test('a second order: not recognised, reason 3, once the patient is informed', async () => {
  await go(page, `#/recognition/${ORDER_2}`);
  await panel(page);
  await until(page, () => document.querySelector('[data-testid=recognition-submit]'), null, { what: 'the decision form' });
  await page.check('[data-testid=outcome-not-recognised]');
  await page.click('[data-testid=recognition-submit]');
  assert.equal(await until(page, () => document.querySelector('[data-testid=recognition-error-message]')?.textContent, null, { what: 'no reason' }), 'Choose a reason');
  await page.selectOption('[data-testid=recognition-reason]', '3');
  await page.fill('[data-testid=recognition-note]', '术前需重新评估');
  await page.click('[data-testid=recognition-submit]');
  const refused = await until(page, () => document.querySelector('[data-testid=recognition-error-message]')?.textContent, null, { what: 'the server\'s refusal' });
  assert.match(refused, /patient must be informed/);
  await page.check('[data-testid=recognition-informed]');
  await page.click('[data-testid=recognition-submit]');
  assert.equal(await until(page, () => document.querySelector('[data-testid=recognition-decided]')?.dataset.outcome, null, { what: 'the decision' }), 'not-recognised');
  assert.ok((await page.textContent('[data-testid=recognition-decided]')).includes('·'), 'with the reason\'s label');
});

test('in Chinese', async () => {
  await page.click('#lang');
  await until(page, () => document.querySelector('[data-testid=recognition-panel] h1')?.textContent === '检查结果互认', null, { what: 'the panel in Chinese' });
  assert.match(await page.textContent('[data-testid=recognition-decided]'), /不予互认/);
  await page.click('#lang');
});

test("A's doctor sees nothing of B's orders", async () => {
  const other = await newPage(browser, { locale: 'en-GB' });
  await signIn(other, A_USER);
  for (const order of [ORDER_1, ORDER_2]) {
    await go(other, `#/recognition/${order}`);
    const error = await until(other, () => window.yunying.ready && document.querySelector('[data-testid=recognition-error]')?.textContent, null, { what: 'the refusal of B\'s order' });
    assert.ok(!error.includes('HOSP_B') && !error.includes(STUDY), error);
    assert.equal(await other.$('[data-testid=recognition-candidate]'), null);
  }
  await other.context().close();
});

test("B's institution administrator reads both decisions and the savings on the dashboard", async () => {
  const admin = await newPage(browser, { locale: 'en-GB' });
  await admin.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(admin);
  await submitPassword(admin, B_ADMIN, PASSWORD);
  // An administrator enrols a second factor first.
  const uri = await until(admin, () => document.querySelector('[data-testid=totp-uri]')?.textContent || null, null, { what: 'the enrolment secret' });
  await admin.fill('[data-testid=enrol-code]', totp(secretOf(uri)));
  await admin.click('[data-testid=enrol-submit]');
  await until(admin, () => document.querySelector('[data-testid=admin-link]'), null, { what: 'signed in as an administrator' });
  await go(admin, '#/admin');
  await until(admin, () => document.querySelector('[data-testid=admin-recognition]'), null, { what: 'the recognition section' });
  await admin.fill('[data-testid=recognition-from]', '2026-12');
  await admin.fill('[data-testid=recognition-to]', '2026-12');
  await admin.selectOption('[data-testid=recognition-group]', 'month');
  await admin.click('[data-testid=recognition-show]');
  const tile = (id) => until(admin, (i) => document.querySelector(`[data-testid=recognition-total-${i}] .tile-value`)?.textContent, id, { what: `the ${id} total` });
  assert.equal(await tile('offered'), '2');
  assert.equal(await tile('decided'), '2');
  assert.equal(await tile('rate'), '50.0%');
  assert.equal(await tile('saved'), '300.00');
  const cells = await admin.$$eval('[data-testid=recognition-table] tbody tr td', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(cells.slice(0, 6), ['2026-12', '2', '2', '1', '0', '1']);
  assert.equal(await admin.$$eval('[data-testid=recognition-chart] rect', (r) => r.length), 2, 'one bar recognised, one not');
  assert.match(await admin.textContent('[data-testid=recognition-reasons]'), /3 · .+1/);
  assert.match(await admin.getAttribute('[data-testid=recognition-csv]', 'href'), /format=csv/);
  // In Chinese.
  await admin.click('#lang');
  await until(admin, () => document.querySelector('[data-testid=admin-recognition] h2')?.textContent === '检查互认统计', null, { what: 'the dashboard in Chinese' });
  await admin.context().close();
});
