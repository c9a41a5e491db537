// A server that wants a bearer token (YUNYING_URL, `http.bearer_token`
// YUNYING_TOKEN, no anonymous access): the sign-in page takes the token
// ("API key / access token"), checks it, and the viewer sends it as an
// Authorization header on every request (searches, metadata, thumbnails,
// frames), never in a URL, and keeps it for the tab only.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { loginError, signInPage, submitToken } from './lib/signin.mjs';

const BASE = process.env.YUNYING_URL;
const TOKEN = process.env.YUNYING_TOKEN;
let browser;

before(async () => {
  assert.ok(BASE && TOKEN, 'YUNYING_URL and YUNYING_TOKEN must be set');
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('a wrong token shows the refusal and no study', async () => {
  const page = await newPage(browser);
  page.on('dialog', (d) => assert.fail(`unexpected dialog: ${d.message()}`));
  await page.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(page);
  await submitToken(page, 'not-the-token');
  assert.match(await loginError(page), /Token refused/);
  assert.equal(await page.$$eval('tbody tr', (rows) => rows.length), 0);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('yunying.token')), null, 'a refused token is not kept');
});

test('the token is asked for once and sent as a header, never in a URL', async () => {
  const page = await newPage(browser);
  page.on('dialog', (d) => assert.fail(`unexpected dialog: ${d.message()}`));
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), auth: r.headers().authorization }));
  await page.goto(`${BASE}/viewer/`);
  await signInPage(page);
  await submitToken(page, TOKEN);
  await until(page, () => document.querySelector('tbody tr'), null, { what: 'worklist rows' });
  await page.click('tbody tr');
  const state = await until(page, () => { const s = window.yunying.reader?.panels[0]?.state(); return s?.loaded === s?.count && s.count > 0 && s; }, null, { what: 'every slice loaded' });
  assert.ok(state.firstImage);
  const dicomweb = requests.filter((r) => r.url.includes('/dicom-web/'));
  assert.ok(dicomweb.length >= state.count, `${dicomweb.length} DICOMweb requests`);
  // Nothing went to DICOMweb before the token was given; all of it carries it.
  for (const r of dicomweb) assert.equal(r.auth, `Bearer ${TOKEN}`, r.url);
  for (const r of requests) assert.ok(!r.url.includes(TOKEN), `token in ${r.url}`);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('yunying.token')), TOKEN);
  assert.equal(await page.evaluate((token) => Object.entries(localStorage).some(([k, v]) => k.includes('token') || v.includes(token)), TOKEN), false, 'no token in localStorage');
  // Loading the page again keeps the tab's token: no sign-in page again.
  await page.goto(`${BASE}/viewer/?again=1`);
  await until(page, () => document.querySelector('tbody tr'), null, { what: 'worklist rows after a reload' });
  // "Forget token" signs out.
  await page.click('[data-testid=logout]');
  await signInPage(page);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('yunying.token')), null);
});
