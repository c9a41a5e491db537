// Access control as the viewer shows it, with an institution's API key
// (KEY_A, hospital A) on a server without anonymous access: the worklist
// holds A's studies and the study B granted to A (STUDY_GRANTED), not B's
// other study (STUDY_B); the granted study opens under the grant banner;
// the study out of reach shows the server's refusal, and no break-glass
// (a key is no person).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { signInPage, submitToken } from './lib/signin.mjs';

const BASE = process.env.YUNYING_URL;
const { KEY_A, STUDY_A, STUDY_B, STUDY_GRANTED, GRANT_REASON } = process.env;
let browser;
let page;

before(async () => {
  assert.ok(BASE && KEY_A && STUDY_A && STUDY_B && STUDY_GRANTED && GRANT_REASON, 'YUNYING_URL, KEY_A, STUDY_A, STUDY_B, STUDY_GRANTED, GRANT_REASON');
  browser = await launch();
  page = await newPage(browser, { locale: 'en-GB' });
});

after(async () => {
  await browser?.close();
});

const rows = () => until(page, () => {
  const status = document.querySelector('[data-testid=worklist-status]')?.textContent ?? '';
  return window.yunying?.ready && status && !/Loading|加载/.test(status) && [...document.querySelectorAll('tbody tr')].map((r) => r.dataset.study);
}, null, { what: 'the worklist' });

test('with the key: who it is, and the worklist of what it reaches', async () => {
  await page.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(page);
  await submitToken(page, KEY_A);
  const studies = await rows();
  assert.deepEqual(new Set(studies), new Set([STUDY_A, STUDY_GRANTED]));
  assert.equal(await page.textContent('[data-testid=who-institution]'), 'HOSP_A');
  assert.equal(await page.$('[data-testid=admin-link]'), null, 'no administration for a key that reads');
});

test('a study reached through a grant opens under the grant banner', async () => {
  await page.evaluate((uid) => { location.hash = `#/study/${uid}`; }, STUDY_GRANTED);
  const banner = await until(page, () => document.querySelector('[data-testid=access-banner]')?.textContent, null, { what: 'the grant banner' });
  assert.match(banner, /Accessed through a grant/);
  assert.match(banner, /Referral/);
  assert.match(banner, /given by person:referrer/);
  assert.ok(banner.includes(GRANT_REASON), banner);
  assert.equal(await page.getAttribute('[data-testid=access-banner]', 'data-kind'), 'referral');
  const state = await until(page, () => { const s = window.yunying.reader?.panels[0]?.state(); return s?.count > 0 && s.firstImage && s; }, null, { what: 'the granted study displayed' });
  assert.ok(state.count > 0);
  // Its own institution's study: no banner.
  await page.evaluate((uid) => { location.hash = `#/study/${uid}`; }, STUDY_A);
  await until(page, () => window.yunying.ready && window.yunying.reader?.panels[0]?.state()?.firstImage, null, { what: 'the own study displayed' });
  assert.equal(await page.$('[data-testid=access-banner]'), null);
});

test('a study out of reach shows the refusal; a key has no break-glass', async () => {
  await page.evaluate((uid) => { location.hash = `#/study/${uid}`; }, STUDY_B);
  const message = await until(page, () => document.querySelector('[data-testid=refusal-message]')?.textContent, null, { what: 'the refusal' });
  assert.ok(message.length > 0);
  assert.equal(await page.$('[data-testid=break-glass]'), null);
  assert.equal(await page.evaluate(() => window.yunying.reader), undefined);
});

test('in Chinese: the banner and the refusal', async () => {
  await page.click('#lang');
  await until(page, () => document.documentElement.lang === 'zh-CN' && document.querySelector('[data-testid=refusal] h1')?.textContent === '无权访问此检查', null, { what: 'the refusal in Chinese' });
  await page.evaluate((uid) => { location.hash = `#/study/${uid}`; }, STUDY_GRANTED);
  const banner = await until(page, () => document.querySelector('[data-testid=access-banner]')?.textContent, null, { what: 'the grant banner in Chinese' });
  assert.match(banner, /通过授权访问/);
  assert.match(banner, /会诊转诊/);
  await page.click('#lang');
});
