// The administration page for each administrator, against answers shaped
// as the server's (`/api/access/whoami`, `/api/admin/*`, `/api/audit/*`)
// served by Playwright in place of the server's, so that every section is
// seen by the role that may use it and hidden from the others. YUNYING_URL
// serves the viewer; the server's own checks are tested in Rust.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';

const BASE = process.env.YUNYING_URL;
let browser;

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must be set');
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

const MAY = {
  'system-admin': ['manage accounts', 'manage the system'],
  'security-admin': ['assign roles', 'manage API keys'],
  'audit-admin': ['read access records'],
  'institution-admin': ['manage accounts'],
};

/** When set, the audit API refuses as the server does for anyone else. */
let auditRefused = false;

/** A page whose /api answers as the server would for `role`; the requests it got. */
async function adminPage(role, institution = null) {
  const page = await newPage(browser, { locale: 'en-GB' });
  const calls = [];
  const users = [
    { user_id: 'u1', username: 'li.rad', display_name: 'Li Fang', institution: 'HOSP_A', roles: ['radiologist'], disabled: false, locked_until_ms: Date.now() + 600000, totp: false, password: true, oidc_issuer: null, created_ms: 0, created_by: 'cli', password_changed_ms: null },
  ];
  const aes = [{ ae_title: 'CT_A', host: '10.0.0.5', port: 104, institution: 'HOSP_A', rights: ['store', 'find'] }];
  await page.route('**/api/**', async (route) => {
    const req = route.request();
    const url = new URL(req.url());
    const body = req.postData() ? JSON.parse(req.postData()) : undefined;
    calls.push({ method: req.method(), path: url.pathname + url.search, body, type: req.headers()['content-type'] });
    const json = (status, value) => route.fulfill({ status, contentType: 'application/json', body: JSON.stringify(value) });
    const p = url.pathname;
    if (p === '/api/auth/me') return json(200, { user_id: 'adm', user: `${role}-user`, display_name: `The ${role}`, institution, roles: [role], totp: true, needs_totp_enrolment: false, session_id: 's1' });
    if (p === '/api/access/whoami') return json(200, { id: 'person:adm', name: `${role}-user`, institution, roles: [role], may: MAY[role] });
    if (p === '/api/admin/users' && req.method() === 'GET') return json(200, { users });
    if (p === '/api/admin/users') {
      users.push({ ...users[0], user_id: 'u2', username: body.username, roles: body.roles, locked_until_ms: null });
      return json(201, { user: users[users.length - 1], password: 'Generated-pw-123' });
    }
    if (p === '/api/admin/users/u1/unlock') { users[0].locked_until_ms = null; return json(200, { user: users[0] }); }
    if (p === '/api/admin/users/u1/roles') { users[0].roles = body.roles; return json(200, { user: users[0] }); }
    if (p === '/api/admin/sessions' && req.method() === 'GET') return json(200, { sessions: [{ session_id: 'sess9', user_id: 'u1', username: 'li.rad', institution: 'HOSP_A', created_ms: 0, last_seen_ms: 0, idle_expires_ms: 0, absolute_expires_ms: 0, client: '127.0.0.1', user_agent: 'test', enrolment_only: false }] });
    if (p === '/api/admin/sessions/sess9') return route.fulfill({ status: 204 });
    if (p === '/api/admin/aes' && req.method() === 'GET') return json(200, aes);
    if (p === '/api/admin/aes') { aes.push({ ...body, rights: body.rights.split(',') }); return json(201, aes[aes.length - 1]); }
    if (p === '/api/admin/aes/CT_A/remove') { aes.shift(); return route.fulfill({ status: 204 }); }
    if (auditRefused && p.startsWith('/api/audit/')) return json(403, { error: 'person:adm may not read access records' });
    if (p === '/api/audit/events') return json(200, [{ leaf_index: 7, leaf_hash: 'ab', event: { v: 1, at_ms: 0, node: 'n1', principal: 'person:u1', event: 'break-glass', studies: ['1.2.3'], via: 'grant:g1', client: '127.0.0.1', result: 'ok', detail: 'emergency: resus', patients: [], facts: {} } }]);
    if (p === '/api/audit/checkpoints') return json(200, { log_key: 'yunying+abc+key', checkpoints: [{ tree_size: 8, root_hash: 'cafe', at_ms: 0, note: '' }] });
    if (p === '/api/admin/keys') return json(200, []);
    return json(404, { error: `no mock for ${req.method()} ${p}` });
  });
  page.on('dialog', (d) => void d.accept());
  await page.goto(`${BASE}/viewer/?lang=en#/admin`);
  await until(page, () => window.yunying?.ready && document.querySelector('[data-testid=admin]'), null, { what: 'the administration page' });
  return { page, calls };
}

const sections = (page) => page.$$eval('[data-testid^=admin-]', (els) => els.map((e) => e.dataset.testid).filter((id) => id !== 'admin-link').sort());

test('each administrator sees their own sections only', async () => {
  const expected = {
    'system-admin': ['admin-aes', 'admin-recognition', 'admin-sessions', 'admin-users'],
    'security-admin': ['admin-keys', 'admin-users'],
    'audit-admin': ['admin-audit'],
    'institution-admin': ['admin-recognition', 'admin-sessions', 'admin-users'],
  };
  for (const [role, want] of Object.entries(expected)) {
    const { page } = await adminPage(role, role === 'institution-admin' ? 'HOSP_A' : null);
    assert.deepEqual(await sections(page), want, role);
    await page.context().close();
  }
});

test('the system administrator: accounts, sessions and AEs', async () => {
  const { page, calls } = await adminPage('system-admin');
  // Unlock a locked account.
  await until(page, () => document.querySelector('[data-testid=user-unlock]'), null, { what: 'the unlock button' });
  await page.click('[data-testid=user-unlock]');
  await until(page, () => !document.querySelector('[data-testid=user-unlock]'), null, { what: 'the account unlocked' });
  // Create an account: the generated password is shown once.
  await page.fill('[data-testid=field-user-name]', 'wang.tech');
  await page.fill('[data-testid=field-user-institution]', 'HOSP_A');
  await page.fill('[data-testid=field-user-roles]', 'technologist');
  await page.click('[data-testid=user-create]');
  assert.equal(await until(page, () => document.querySelector('[data-testid=new-password]')?.textContent, null, { what: 'the password' }), 'Generated-pw-123');
  const created = calls.find((c) => c.method === 'POST' && c.path === '/api/admin/users');
  assert.deepEqual(created.body, { username: 'wang.tech', display_name: '', roles: ['technologist'], institution: 'HOSP_A' });
  // End a session.
  await page.click('[data-testid=session-end]');
  for (let i = 0; i < 100 && !calls.some((c) => c.method === 'DELETE'); i++) await new Promise((r) => setTimeout(r, 50));
  // Add and remove AEs.
  await page.fill('[data-testid=field-ae-title]', 'MR_B');
  await page.fill('[data-testid=field-ae-host]', 'mr.hosp-b');
  await page.fill('[data-testid=field-ae-port]', '11112');
  await page.fill('[data-testid=field-ae-institution]', 'HOSP_B');
  await page.fill('[data-testid=field-ae-rights]', 'store');
  await page.click('[data-testid=ae-add]');
  await until(page, () => document.querySelector('[data-testid=aes-table]')?.textContent.includes('MR_B'), null, { what: 'the AE added' });
  await page.click('[data-testid=ae-remove]');
  await until(page, () => !document.querySelector('[data-testid=aes-table]')?.textContent.includes('CT_A'), null, { what: 'the AE removed' });
  const posts = calls.filter((c) => c.method !== 'GET');
  for (const c of posts) assert.equal(c.type, 'application/json', `${c.method} ${c.path} says JSON`);
  assert.deepEqual(posts.map((c) => `${c.method} ${c.path}`), [
    'POST /api/admin/users/u1/unlock', 'POST /api/admin/users', 'DELETE /api/admin/sessions/sess9', 'POST /api/admin/aes', 'POST /api/admin/aes/CT_A/remove',
  ]);
  assert.deepEqual(calls.find((c) => c.path === '/api/admin/aes' && c.method === 'POST').body, { ae_title: 'MR_B', host: 'mr.hosp-b', port: 11112, institution: 'HOSP_B', rights: 'store' });
  await page.context().close();
});

test('the security administrator sets roles; the audit administrator reads access records', async () => {
  const { page, calls } = await adminPage('security-admin');
  await until(page, () => document.querySelector('[data-testid=user-roles-input]'), null, { what: 'the roles field' });
  assert.equal(await page.$('[data-testid=user-disable]'), null, 'accounts are the system administrator\'s');
  await page.fill('[data-testid=user-roles-input]', 'radiologist, referring');
  await page.click('[data-testid=user-roles-save]');
  await until(page, () => document.querySelector('[data-testid=users-status]')?.textContent === 'Saved', null, { what: 'roles saved' });
  assert.deepEqual(calls.find((c) => c.path === '/api/admin/users/u1/roles').body, { roles: ['radiologist', 'referring'] });
  await page.context().close();

  const audit = await adminPage('audit-admin');
  await until(audit.page, () => /8 entries/.test(document.querySelector('[data-testid=audit-checkpoint]')?.textContent ?? ''), null, { what: 'the ledger\'s checkpoint' });
  await audit.page.fill('[data-testid=field-audit-study]', '1.2.3');
  await audit.page.click('[data-testid=audit-search]');
  const text = await until(audit.page, () => document.querySelector('[data-testid=audit-table]')?.textContent, null, { what: 'the audit record' });
  assert.match(text, /break-glass/);
  assert.match(text, /emergency: resus/);
  assert.ok(audit.calls.some((c) => c.path === '/api/audit/events?study=1.2.3&limit=200'), JSON.stringify(audit.calls.map((c) => c.path)));
  await audit.page.context().close();
});

test('the audit section says the server\'s refusal politely', async () => {
  auditRefused = true;
  try {
    const { page } = await adminPage('audit-admin');
    const said = await until(page, () => document.querySelector('[data-testid=audit-status][data-refused]')?.textContent, null, { what: 'the refusal' });
    assert.equal(said, 'Only the audit administrator may read the audit record.');
    await page.context().close();
  } finally {
    auditRefused = false;
  }
});
