// The audit administrator's page against the real server (YUNYING_URL):
// hospital A's key (KEY_A) reads STUDY_GRANTED through the referral grant,
// then the audit administrator (AUDIT_USER, AUDIT_PASSWORD, no second
// factor yet) signs in, enrols TOTP, signs a checkpoint, searches the
// ledger by study and sees that access; the CSV link answers CSV; a row's
// proof downloads as leaf-N.tlog-proof + leaf-N.entry into PROOF_DIR
// (with the log key in PROOF_DIR/log.pub) for the Rust side to check
// offline; "who has seen this patient's images" and the printable report.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { launch, newPage, until } from './lib/browser.mjs';
import { secretOf, signInPage, submitPassword, totp } from './lib/signin.mjs';

const BASE = process.env.YUNYING_URL;
const { KEY_A, AUDIT_USER, AUDIT_PASSWORD, STUDY_GRANTED, STUDY_A, GRANT_REASON, PROOF_DIR } = process.env;
let browser;

before(async () => {
  for (const name of ['YUNYING_URL', 'KEY_A', 'AUDIT_USER', 'AUDIT_PASSWORD', 'STUDY_GRANTED', 'STUDY_A', 'GRANT_REASON', 'PROOF_DIR']) {
    assert.ok(process.env[name], `${name} must be set`);
  }
  browser = await launch();
});

after(async () => {
  await browser?.close();
});

const rowsText = (page) => page.$$eval('[data-testid=audit-table] tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));

test('the audit administrator searches the ledger by study, downloads CSV and a proof, and prints a patient\'s access report', async () => {
  // Hospital A's key reads the study granted to it: an access through the grant.
  const auth = { Authorization: `Bearer ${KEY_A}`, Accept: 'application/dicom+json' };
  // The grant was written straight into the index: the server sees it
  // once what it remembers of key A's grants (at most 2 s) is forgotten.
  let found;
  for (let i = 0; i < 20 && !found; i++) {
    const study = await fetch(`${BASE}/dicom-web/studies?StudyInstanceUID=${STUDY_GRANTED}&includefield=00100021`, { headers: auth });
    assert.equal(study.status, 200);
    [found] = await study.json();
    if (!found) await new Promise((res) => setTimeout(res, 250));
  }
  assert.ok(found, 'the granted study is found within 5 s');
  const patientId = found['00100020'].Value[0];
  const r = await fetch(`${BASE}/dicom-web/studies/${STUDY_GRANTED}/metadata`, { headers: auth });
  assert.equal(r.status, 200);
  // A sitting of views is one event, recorded once quiet (a second here).
  await new Promise((res) => setTimeout(res, 2500));

  const page = await newPage(browser, { locale: 'en-GB' });
  const requests = [];
  page.on('request', (q) => requests.push(q.url()));
  await page.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(page);
  await submitPassword(page, AUDIT_USER, AUDIT_PASSWORD);
  const uri = await until(page, () => document.querySelector('[data-testid=totp-uri]')?.textContent || null, null, { what: 'the enrolment secret' });
  await page.fill('[data-testid=enrol-code]', totp(secretOf(uri)));
  await page.click('[data-testid=enrol-submit]');
  await until(page, () => document.querySelector('[data-testid=admin-link]'), null, { what: 'signed in as the audit administrator' });
  await page.click('[data-testid=admin-link]');
  await until(page, () => document.querySelector('[data-testid=admin-audit]'), null, { what: 'the audit section' });
  assert.equal(await page.$('[data-testid=admin-keys]'), null, 'the audit administrator\'s section only');

  // Sign a checkpoint: the waiting events go into the ledger.
  await page.click('[data-testid=audit-sign]');
  const signed = await until(page, () => document.querySelector('[data-testid=audit-sign-status]')?.textContent || document.querySelector('[data-testid=audit-status].error')?.textContent, null, { what: 'a signed checkpoint', timeout: 20000 });
  const size = Number(/Signed: (\d+) entries/.exec(signed)?.[1]);
  assert.ok(size > 0, signed);
  assert.match(await page.textContent('[data-testid=audit-checkpoint]'), new RegExp(`Latest checkpoint: ${size} entries`));
  const logKey = await page.textContent('[data-testid=audit-log-key]');
  assert.ok(logKey.length > 10, logKey);

  // Search by study: the key's access through the grant is there, and only that study's events.
  await page.fill('[data-testid=field-audit-study]', STUDY_GRANTED);
  await page.click('[data-testid=audit-search]');
  await until(page, () => document.querySelector('[data-testid=audit-count]')?.textContent, null, { what: 'the search' });
  await until(page, () => document.querySelectorAll('[data-testid=audit-table] tbody tr').length > 0, null, { what: 'the events of the study' });
  const rows = await rowsText(page);
  // Columns: #, time, event, result, who, institution, through, client, studies, detail, actions.
  const access = rows.find((c) => c[2] === 'study-viewed' && c[6] === 'grant viewer-referral');
  assert.ok(access, `an access through the grant in ${JSON.stringify(rows)}`);
  assert.equal(access[3], 'ok');
  assert.match(access[1], /^\d{4}-\d\d-\d\d \d\d:\d\d$/);
  for (const c of rows) assert.ok(c[8].split(' ').includes(STUDY_GRANTED), `every row names the study: ${JSON.stringify(c)}`);
  assert.ok(!rows.some((c) => c[8].includes(STUDY_A)), 'no other study\'s events');

  // The same search as CSV, by the plain link (the session cookie goes with it).
  const href = await page.getAttribute('[data-testid=audit-csv]', 'href');
  assert.ok(href.startsWith(`${BASE}/api/audit/events?`) && href.includes('format=csv'), href);
  const csv = await page.context().request.get(href);
  assert.equal(csv.status(), 200);
  assert.match(csv.headers()['content-type'], /^text\/csv/);
  const lines = (await csv.text()).trim().split('\n');
  assert.equal(lines[0], 'leaf_index,time_utc,event,result,principal,institution,via,client,studies,detail');
  const line = lines.find((l) => l.split(',')[0] === access[0]);
  assert.ok(line && line.includes(',study-viewed,ok,') && line.includes(STUDY_GRANTED) && line.includes('grant:viewer-referral'), lines.join('\n'));
  // Without the session: refused.
  assert.equal((await fetch(href)).status, 401);

  // The proof of the access: two downloads, and the check command.
  const leaf = access[0];
  const index = rows.indexOf(access);
  const downloads = [];
  page.on('download', (d) => downloads.push(d));
  await page.locator('[data-testid=audit-proof]').nth(index).click();
  await until(page, () => !document.querySelector('[data-testid=audit-proof-hint]')?.hidden, null, { what: 'the proof downloaded' });
  const deadline = Date.now() + 10000;
  while (downloads.length < 2 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
  assert.deepEqual(downloads.map((d) => d.suggestedFilename()).sort(), [`leaf-${leaf}.entry`, `leaf-${leaf}.tlog-proof`]);
  for (const d of downloads) await d.saveAs(join(PROOF_DIR, d.suggestedFilename()));
  writeFileSync(join(PROOF_DIR, 'log.pub'), `${logKey}\n`);
  assert.equal(await page.textContent('[data-testid=audit-check-command]'), `yunying audit check-proof DIR --log-key ${logKey}`);

  // Who has seen this patient's images: the patient only, access events only.
  await page.fill('[data-testid=field-audit-patient-issuer]', 'HOSP_B');
  await page.fill('[data-testid=field-audit-patient-id]', patientId);
  await page.click('[data-testid=audit-seen]');
  await until(page, () => document.querySelector('[data-testid=field-audit-study]').value === '' && !document.querySelector('[data-testid=audit-report]').hidden, null, { what: 'the patient\'s events' });
  const seen = await rowsText(page);
  assert.ok(seen.some((c) => c[0] === leaf), `the access in ${JSON.stringify(seen)}`);
  assert.ok(seen.every((c) => !['audit-log-used', 'sign-in', 'totp-enrolled'].includes(c[2])), JSON.stringify(seen));

  // The printable report: the patient as typed, the access, the ledger's checkpoint.
  await page.click('[data-testid=audit-report]');
  const report = await until(page, () => document.querySelector('[data-testid=patient-report]')?.textContent, null, { what: 'the report' });
  assert.equal(await page.textContent('[data-testid=report-patient]'), `Patient: HOSP_B / ${patientId}`);
  const reportRows = await page.$$eval('[data-testid=report-table] tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((td) => td.textContent)));
  const reported = reportRows.find((c) => c[6] === leaf);
  assert.ok(reported, JSON.stringify(reportRows));
  assert.equal(reported[3], 'study-viewed');
  assert.match(reported[4], /grant viewer-referral/);
  assert.match(report, new RegExp(`Ledger checkpoint: ${size} entries`));
  assert.ok(report.includes(logKey), 'the log key at the bottom');
  assert.match(report, /Each row can be proven: leaf N/);
  assert.equal(await page.isVisible('header.top'), false, 'a clean page: the application hidden');
  if (process.env.VIEWER_SHOTS) await page.screenshot({ path: join(process.env.VIEWER_SHOTS, 'audit-report.png'), fullPage: true });
  await page.click('[data-testid=report-back]');
  await until(page, () => !document.querySelector('[data-testid=patient-report]'), null, { what: 'back to the page' });

  // No patient data in any address but the API's own query.
  for (const url of requests) {
    if (url.includes(patientId)) assert.ok(url.startsWith(`${BASE}/api/audit/events?`), `patient ID in ${url}`);
  }
  assert.ok(!page.url().includes(patientId), page.url());
  await page.context().close();
});
