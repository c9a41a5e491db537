// Signing in through the viewer's sign-in page, and TOTP codes computed
// here (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits) from an enrolment's
// otpauth:// URI.
import { createHmac } from 'node:crypto';
import { until } from './browser.mjs';

/** Wait for the sign-in page. */
export async function signInPage(page) {
  await until(page, () => window.yunying?.ready && document.querySelector('[data-testid=login]'), null, { what: 'the sign-in page' });
}

/** Type a username and password into the sign-in page and submit. */
export async function submitPassword(page, username, password) {
  await page.fill('[data-testid=login-username]', username);
  await page.fill('[data-testid=login-password]', password);
  await page.click('[data-testid=login-submit]');
}

/** The text of the sign-in page's error once there is one. */
export async function loginError(page) {
  return until(page, () => document.querySelector('[data-testid=login-error]')?.textContent || null, null, { what: 'a sign-in error' });
}

/** Use an access token (API key) on the sign-in page. */
export async function submitToken(page, token) {
  await page.click('[data-testid=login-token-section] summary');
  await page.fill('[data-testid=login-token]', token);
  await page.click('[data-testid=login-token-submit]');
}

function base32(text) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of text.replace(/[\s=]/g, '').toUpperCase()) {
    const v = alphabet.indexOf(c);
    if (v < 0) throw new Error(`not base32: ${c}`);
    bits += v.toString(2).padStart(5, '0');
  }
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  return Buffer.from(bytes);
}

/** The secret of an `otpauth://totp/…?secret=…` URI. */
export function secretOf(uri) {
  const secret = new URL(uri).searchParams.get('secret');
  if (!secret) throw new Error(`no secret in ${uri}`);
  return secret;
}

/** The TOTP code of `secret` (base32) for the step holding `ms`. */
export function totp(secret, ms = Date.now()) {
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(ms / 1000 / 30)));
  const mac = createHmac('sha1', base32(secret)).update(counter).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const value = (mac.readUInt32BE(offset) & 0x7fffffff) % 1_000_000;
  return String(value).padStart(6, '0');
}

/** Wait for the next 30 s step (a code is good once: the server refuses it again). */
export async function nextStep() {
  const ms = 30_000 - (Date.now() % 30_000) + 200;
  await new Promise((r) => setTimeout(r, ms));
}
