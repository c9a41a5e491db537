// Signing in through an identity provider (YUNYING_URL configured with the
// provider `test-idp`, tests/oidc/idp.mjs, which signs `alice` in without
// asking): the sign-in page offers it, the browser goes there and back,
// and the viewer shows Alice of INST-A, radiologist, with a session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { signInPage } from './lib/signin.mjs';

const BASE = process.env.YUNYING_URL;
let browser;

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must be set');
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

test('sign in with the identity provider, and out again', async () => {
  const page = await newPage(browser, { locale: 'en-GB' });
  await page.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(page);
  const button = await until(page, () => document.querySelector('[data-provider=test-idp]')?.textContent, null, { what: 'the provider button' });
  assert.equal(button, 'Sign in with test-idp');
  await page.click('[data-provider=test-idp]');
  const name = await until(page, () => document.querySelector('[data-testid=who-name]')?.textContent, null, { what: 'signed in' });
  assert.equal(name, 'Alice Zhang');
  assert.equal(await page.textContent('[data-testid=who-institution]'), 'INST-A');
  assert.match(await page.textContent('[data-testid=who-roles]'), /Radiologist/);
  assert.equal(new URL(page.url()).pathname, '/viewer/');
  assert.equal(await page.evaluate(() => document.cookie), '', 'the session cookie is HttpOnly');
  await page.click('[data-testid=logout]');
  await signInPage(page);
});
