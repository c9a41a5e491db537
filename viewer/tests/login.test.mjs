// Signing in, with accounts made by `yunying user add` on a server without
// anonymous access (YUNYING_URL): a radiologist of hospital A (RAD_USER,
// RAD_PASSWORD, display name RAD_NAME) and a security administrator
// without a second factor yet (ADMIN_USER, ADMIN_PASSWORD). Hospital A has
// STUDY_A; hospital B has STUDY_B and STUDY_GRANTED (given to A by a
// referral).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { loginError, nextStep, secretOf, signInPage, submitPassword, totp } from './lib/signin.mjs';

const BASE = process.env.YUNYING_URL;
const { RAD_USER, RAD_PASSWORD, RAD_NAME, ADMIN_USER, ADMIN_PASSWORD, STUDY_A, STUDY_B, STUDY_GRANTED } = process.env;
let browser;

before(async () => {
  for (const name of ['YUNYING_URL', 'RAD_USER', 'RAD_PASSWORD', 'RAD_NAME', 'ADMIN_USER', 'ADMIN_PASSWORD', 'STUDY_A', 'STUDY_B', 'STUDY_GRANTED']) {
    assert.ok(process.env[name], `${name} must be set`);
  }
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

const rows = (page) => until(page, () => {
  const status = document.querySelector('[data-testid=worklist-status]')?.textContent ?? '';
  return window.yunying?.ready && status && !/Loading|加载/.test(status) && [...document.querySelectorAll('tbody tr')].map((r) => r.dataset.study);
}, null, { what: 'the worklist' });

const open = (page, hash) => page.evaluate((h) => { location.hash = h; }, hash);

test('the radiologist: sign-in page, a wrong password, then their worklist; break-glass; sign out', async () => {
  const page = await newPage(browser, { locale: 'en-GB' });
  const requests = [];
  page.on('request', (r) => requests.push(r.url()));
  await page.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(page);
  assert.equal(await page.textContent('[data-testid=login] h1'), 'Sign in to Yunying');

  // A wrong password: the server's message, shown as it is (a locked
  // account gets the same one).
  await submitPassword(page, RAD_USER, `${RAD_PASSWORD}-wrong`);
  assert.match(await loginError(page), /wrong username or password/);
  assert.ok(await page.$('[data-testid=login]'));

  await submitPassword(page, RAD_USER, RAD_PASSWORD);
  const studies = await rows(page);
  assert.deepEqual(new Set(studies), new Set([STUDY_A, STUDY_GRANTED]), 'hospital A\'s study and the one granted, not B\'s other');
  assert.equal(await page.textContent('[data-testid=who-name]'), RAD_NAME);
  assert.equal(await page.textContent('[data-testid=who-institution]'), 'HOSP_A');
  assert.match(await page.textContent('[data-testid=who-roles]'), /Radiologist/);
  assert.equal(await page.$('[data-testid=admin-link]'), null, 'no administration for a radiologist');
  // The administration page is not there for them, even by its address.
  await open(page, '#/admin');
  await rows(page);
  assert.equal(await page.$('[data-testid=admin]'), null);
  // The session is an HttpOnly cookie: no script sees it, nothing in storage.
  assert.equal(await page.evaluate(() => document.cookie), '');
  assert.equal(await page.evaluate(() => sessionStorage.length), 0);

  // B's study: refused, with break-glass.
  await open(page, `#/study/${STUDY_B}`);
  await until(page, () => document.querySelector('[data-testid=refusal-message]')?.textContent, null, { what: 'the refusal' });
  await page.click('[data-testid=break-glass]');
  await until(page, () => document.querySelector('[data-testid=break-glass-dialog]')?.open, null, { what: 'the break-glass dialog' });
  // A description is needed, and at most 240 minutes.
  await page.selectOption('[data-testid=break-glass-code]', 'emergency');
  await page.fill('[data-testid=break-glass-text]', 'patient in resus, prior CT at hospital B');
  await page.fill('[data-testid=break-glass-minutes]', '500');
  await page.click('[data-testid=break-glass-submit]');
  assert.match(await page.textContent('[data-testid=break-glass-error]'), /240/);
  await page.fill('[data-testid=break-glass-minutes]', '30');
  await page.click('[data-testid=break-glass-submit]');
  const banner = await until(page, () => document.querySelector('[data-testid=access-banner][data-kind=break-glass]')?.textContent, null, { what: 'the break-glass banner' });
  assert.match(banner, /Emergency access \(break-glass\)/);
  assert.match(banner, /(29|30) min left/);
  assert.match(banner, /emergency: patient in resus, prior CT at hospital B/);
  const colour = await page.$eval('[data-testid=access-banner]', (el) => getComputedStyle(el).backgroundColor);
  const [r, g, b] = colour.match(/\d+/g).map(Number);
  assert.ok(r > 100 && g < 50 && b < 50, `a red banner: ${colour}`);
  await until(page, () => window.yunying.reader?.panels[0]?.state()?.firstImage, null, { what: 'the study displayed' });

  // The study granted to the hospital: the grant banner.
  await open(page, `#/study/${STUDY_GRANTED}`);
  const granted = await until(page, () => document.querySelector('[data-testid=access-banner][data-kind=referral]')?.textContent, null, { what: 'the grant banner' });
  assert.match(granted, /Accessed through a grant/);

  // Sign out: the sign-in page, and a new load stays there.
  await page.click('[data-testid=logout]');
  await signInPage(page);
  await page.goto(`${BASE}/viewer/?lang=en&again=1`);
  await signInPage(page);
  for (const url of requests) {
    assert.ok(!url.includes(RAD_PASSWORD), `password in ${url}`);
  }
});

test('the security administrator enrols a second factor, then manages API keys', async () => {
  const page = await newPage(browser, { locale: 'en-GB' });
  await page.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(page);
  await submitPassword(page, ADMIN_USER, ADMIN_PASSWORD);
  // No second factor yet: the session may only enrol one.
  const uri = await until(page, () => document.querySelector('[data-testid=totp-uri]')?.textContent || null, null, { what: 'the enrolment secret' });
  assert.match(uri, /^otpauth:\/\/totp\//);
  const secret = secretOf(uri);
  assert.equal((await page.textContent('[data-testid=totp-secret]')).replace(/\s/g, ''), secret);
  await page.fill('[data-testid=enrol-code]', '000000' === totp(secret) ? '111111' : '000000');
  await page.click('[data-testid=enrol-submit]');
  await loginError(page);
  await page.fill('[data-testid=enrol-code]', totp(secret));
  await page.click('[data-testid=enrol-submit]');
  await until(page, () => document.querySelector('[data-testid=admin-link]'), null, { what: 'signed in as an administrator' });
  assert.match(await page.textContent('[data-testid=who-roles]'), /Security administrator/);

  await page.click('[data-testid=admin-link]');
  await until(page, () => document.querySelector('[data-testid=admin-keys]'), null, { what: 'the API keys section' });
  // A security administrator's sections only.
  assert.equal(await page.$('[data-testid=admin-aes]'), null);
  assert.equal(await page.$('[data-testid=admin-audit]'), null);
  assert.equal(await page.$('[data-testid=admin-sessions]'), null);
  await page.fill('[data-testid=field-key-name]', 'PACS gateway A');
  await page.fill('[data-testid=field-key-institution]', 'HOSP_A');
  await page.fill('[data-testid=field-key-scopes]', 'dicomweb:read');
  await page.click('[data-testid=key-create]');
  const key = await until(page, () => document.querySelector('[data-testid=new-key]')?.textContent, null, { what: 'the new key' });
  assert.match(key, /^yk_/);
  await until(page, () => [...document.querySelectorAll('[data-testid=keys-table] td')].some((td) => td.textContent === 'PACS gateway A'), null, { what: 'the key listed' });
  // The key works, and reaches hospital A's studies.
  const r = await fetch(`${BASE}/dicom-web/studies`, { headers: { Authorization: `Bearer ${key}`, Accept: 'application/dicom+json' } });
  assert.equal(r.status, 200);
  const found = (await r.json()).map((s) => s['0020000D'].Value[0]);
  assert.ok(found.includes(STUDY_A) && !found.includes(STUDY_B), JSON.stringify(found));
  // Shown once: not after loading the page again.
  await page.goto(`${BASE}/viewer/?lang=en&again=1#/admin`);
  await until(page, () => [...document.querySelectorAll('[data-testid=keys-table] td')].some((td) => td.textContent === 'PACS gateway A'), null, { what: 'the key listed again' });
  assert.equal(await page.$('[data-testid=new-key]'), null);
  assert.ok(!(await page.content()).includes(key), 'the key is not shown again');

  // Signing in again asks for a code (a fresh one: each is good once).
  await page.click('[data-testid=logout]');
  await signInPage(page);
  await submitPassword(page, ADMIN_USER, ADMIN_PASSWORD);
  await until(page, () => !document.querySelector('[data-testid=login-totp-row]')?.hidden, null, { what: 'the code field' });
  await nextStep();
  await page.fill('[data-testid=login-totp]', totp(secretOf(uri)));
  await page.click('[data-testid=login-submit]');
  await until(page, () => document.querySelector('[data-testid=admin-keys]'), null, { what: 'the administration page after signing in' });
});
