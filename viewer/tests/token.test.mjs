// A server that wants a bearer token (YUNYING_URL, token YUNYING_TOKEN): the
// viewer asks for it once, sends it as an Authorization header on every
// DICOMweb request (searches, metadata, thumbnails, frames) and never in a URL.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';

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
  page.on('dialog', (d) => d.accept('not-the-token'));
  await page.goto(`${BASE}/viewer/?lang=en`);
  await until(page, () => window.yunying?.ready && document.querySelector('[data-testid=worklist-status]')?.textContent.startsWith('Error'), null, { what: 'refusal' });
  assert.match(await page.textContent('[data-testid=worklist-status]'), /401/);
  assert.equal(await page.$$eval('tbody tr', (rows) => rows.length), 0);
});

test('the token is asked for once and sent as a header, never in a URL', async () => {
  const page = await newPage(browser);
  let prompts = 0;
  page.on('dialog', (d) => { prompts++; void d.accept(TOKEN); });
  const requests = [];
  page.on('request', (r) => requests.push({ url: r.url(), auth: r.headers().authorization }));
  await page.goto(`${BASE}/viewer/`);
  await until(page, () => document.querySelector('tbody tr'), null, { what: 'worklist rows' });
  await page.click('tbody tr');
  const state = await until(page, () => { const s = window.yunying.reader?.panels[0]?.state(); return s?.loaded === s?.count && s.count > 0 && s; }, null, { what: 'every slice loaded' });
  assert.ok(state.firstImage);
  assert.equal(prompts, 1);
  const dicomweb = requests.filter((r) => r.url.includes('/dicom-web/'));
  assert.ok(dicomweb.length >= state.count, `${dicomweb.length} DICOMweb requests`);
  // The first search went out without it, was refused, and made the viewer ask.
  assert.equal(dicomweb[0].auth, undefined);
  for (const r of dicomweb.slice(1)) assert.equal(r.auth, `Bearer ${TOKEN}`, r.url);
  for (const r of requests) assert.ok(!r.url.includes(TOKEN), `token in ${r.url}`);
});
