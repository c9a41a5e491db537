// Remote reading in the viewer (tests/it/reading_viewer.rs sets up the
// world of tests/it/reading.rs: the township's CT, STUDY, became a
// request to the centre by itself; the city's PRIOR is the same
// patient's). The centre's radiologist READER finds the request on the
// reading worklist, claims it, reads the study with the prior beside it,
// writes the report from the chest CT template with two key images, a
// length measurement and a critical finding, and submits it; two-step
// signing refuses READER's signature; SIGNER signs it from the
// awaiting-review tab and sees it returned with its deliveries. The
// township's TOWN_USER sees it among the requests sent for reading with
// the signed impression; the city's OTHER sees nothing of it. The system
// administrator ADMIN edits the relationships and templates as JSON on the
// administration page. The township's technologist TECH opens STUDY in the
// reader and asks for it to be read through the form: the centre has it
// already (the server's 409 in the form), the provincial hospital PROV (an
// on-demand relationship) takes it, urgent, with the clinical information
// CLINICAL; TECH then cancels the request.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { secretOf, signInPage, submitPassword, totp } from './lib/signin.mjs';

const BASE = process.env.YUNYING_URL;
const { STUDY, PRIOR, READER, SIGNER, TOWN_USER, OTHER, ADMIN, TECH, CLINICAL, PASSWORD } = process.env;
const HIS_ORDER = 'HIS-2026-0042';
const IMPRESSION = '右肺上叶磨玻璃结节，建议随访。气胸，请临床立即处理。';
let browser;
let page;
let requestId;
/** The length the reader measured (mm), as its annotation says. */
let measured;

before(async () => {
  assert.ok(BASE && STUDY && PRIOR && READER && SIGNER && TOWN_USER && OTHER && ADMIN && TECH && CLINICAL && PASSWORD,
    'YUNYING_URL, STUDY, PRIOR, READER, SIGNER, TOWN_USER, OTHER, ADMIN, TECH, CLINICAL, PASSWORD');
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
  await until(p, () => window.yunying?.ready && document.querySelector('[data-testid=who-name]'), null, { what: `${user} signed in` });
}

const go = (p, hash) => p.evaluate((h) => { location.hash = h; }, hash);
const worklistShown = (p) => until(p, () => window.yunying.ready && window.yunying.reading?.view === 'worklist' && window.yunying.reading.hash === location.hash && window.yunying.reading.page, null, { what: 'the reading worklist' });
const requestShown = (p) => until(p, () => window.yunying.reading?.view === 'request' && document.querySelector('[data-testid=reading-panel]'), null, { what: 'the reading request' });
const status = (p) => p.getAttribute('[data-testid=reading-panel] [data-testid=reading-status]', 'data-status');
const message = (p) => until(p, () => document.querySelector('[data-testid=reading-panel] [data-testid=reading-message]')?.textContent || null, null, { what: 'a message' });
const displayed = (p, i) => until(p, (k) => {
  const panel = window.yunying.reader?.panels[k];
  const s = panel?.state();
  return s?.count > 0 && s.firstImage && s.shown && { ...s, study: panel.study.uid };
}, i, { what: `viewport ${i} displayed` });

test('the reading worklist lists the new request; the radiologist claims it', async () => {
  await signIn(page, READER);
  await page.click('[data-testid=reading-link]');
  await worklistShown(page);
  const row = `[data-testid=reading-worklist] tr[data-study="${STUDY}"]`;
  await until(page, (s) => document.querySelector(s), row, { what: 'the request on the worklist' });
  assert.equal(await page.getAttribute(row, 'data-status'), 'new');
  assert.equal(await page.getAttribute('[data-testid=reading-tab-new]', 'class'), 'on', 'the new tab first');
  assert.ok(Number(await page.getAttribute('[data-testid=reading-tab-new]', 'data-count')) >= 1);
  assert.equal(await page.textContent(`${row} [data-col=institution]`), '青山镇卫生院');
  assert.equal(await page.textContent(`${row} [data-col=modality]`), 'CT');
  assert.match(await page.textContent(`${row} [data-col=patient]`), /王芳 \(Wang Fang\) F 1960-03-15/);
  assert.match(await page.textContent(`${row} [data-testid=reading-due]`), /due in|overdue by/);
  requestId = await page.getAttribute(row, 'data-request');
  // Filters: a body part it is not is an empty list; the modality it is, the row.
  await page.fill('[data-testid=reading-filter-body_part]', 'HEAD');
  await page.click('[data-testid=reading-filter-submit]');
  assert.equal((await worklistShown(page)).total, 0);
  assert.equal(await page.evaluate(() => location.hash), '#/reading?body_part=HEAD');
  assert.equal(await page.$(row), null);
  await go(page, '#/reading?modality=CT&status=new');
  await until(page, (s) => document.querySelector(s), row, { what: 'the request filtered by modality' });
  // A second radiologist has the same list open.
  const rival = await newPage(browser, { locale: 'en-GB' });
  await signIn(rival, SIGNER);
  await go(rival, '#/reading');
  await until(rival, (s) => document.querySelector(s), row, { what: 'the request on the second list' });

  await page.click(`${row} [data-testid=reading-claim]`);
  await requestShown(page);
  assert.equal(await page.evaluate(() => location.hash), `#/reading/${requestId}`);
  assert.equal(await status(page), 'claimed');

  // Too late for the second one: the server's refusal, and the list as it is now.
  await rival.click(`${row} [data-testid=reading-claim]`);
  const refused = await until(rival, (s) => !document.querySelector(s) && document.querySelector('[data-testid=reading-message]')?.textContent, row, { what: 'the refusal' });
  assert.match(refused, /^409: .*not waiting for a reader/);
  await rival.context().close();

  // Released and claimed again from the request's page; "mine" lists it.
  await page.click('[data-testid=reading-release]');
  await until(page, () => document.querySelector('[data-testid=reading-panel] [data-testid=reading-status][data-status=new]'), null, { what: 'released' });
  await page.click('[data-testid=reading-panel] [data-testid=reading-claim]');
  await until(page, () => document.querySelector('[data-testid=reading-panel] [data-testid=reading-status][data-status=claimed]'), null, { what: 'claimed again' });
  await go(page, '#/reading?status=claimed&claimed=me');
  await worklistShown(page);
  assert.ok(await page.$(`${row} [data-testid=reading-release]`), 'mine, to release');
  assert.equal(await page.isChecked('[data-testid=reading-filter-mine]'), true);
  await page.click(`${row} [data-col=study]`);
  await requestShown(page);
});

test('the study is displayed and the prior from the city opens beside it', async () => {
  const first = await displayed(page, 0);
  assert.equal(first.study, STUDY);
  const prior = `[data-testid=reading-prior][data-prior="${PRIOR}"]`;
  await until(page, (s) => document.querySelector(s), prior, { what: 'the prior listed' });
  await page.click(`${prior} [data-testid=reading-compare]`);
  const right = await displayed(page, 1);
  assert.equal(right.study, PRIOR);
});

test('the report: template, two key images, a length measurement, a critical finding; saved and submitted', async () => {
  await page.selectOption('[data-testid=reading-template]', 'ct-chest');
  const findings = await page.inputValue('[data-testid=reading-findings]');
  assert.match(findings, /^胸廓对称/, 'the template filled the findings');
  assert.equal(await page.inputValue('[data-testid=reading-impression]'), '胸部CT平扫未见明显异常。');
  await page.fill('[data-testid=reading-findings]', `${findings}\n右肺上叶见一磨玻璃结节。`);
  await page.fill('[data-testid=reading-impression]', IMPRESSION);

  // Key images: the image shown, then another one after scrolling.
  const box = await (await page.$('[data-panel=vp0] .cs')).boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.up();
  await page.click('[data-testid=reading-mark-key]');
  const before = (await displayed(page, 0)).index;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.wheel(0, before === 0 ? 120 : -120);
  await until(page, (b) => { const s = window.yunying.reader.panels[0].state(); return s.index !== b && s.shown; }, before, { what: 'another image' });
  await page.click('[data-testid=reading-mark-key]');
  const keys = await page.$$eval('[data-testid=reading-key-image]', (els) => els.map((e) => e.dataset.sop));
  assert.equal(keys.length, 2);
  assert.notEqual(keys[0], keys[1]);
  // Marking the same image again is refused in the panel.
  await page.click('[data-testid=reading-mark-key]');
  assert.match(await message(page), /Already added/);

  // A length across the image, added as a measurement.
  await page.click('[data-testid=tool-length]');
  const [a, b] = await page.evaluate(() => [window.yunying.reader.panels[0].canvasPoint(10, 32), window.yunying.reader.panels[0].canvasPoint(54, 32)]);
  await page.mouse.move(box.x + a[0], box.y + a[1]);
  await page.mouse.down();
  await page.mouse.move(box.x + (a[0] + b[0]) / 2, box.y + a[1], { steps: 5 });
  await page.mouse.move(box.x + b[0], box.y + b[1], { steps: 5 });
  await page.mouse.up();
  await page.mouse.move(box.x + 5, box.y + box.height - 5);
  const length = () => until(page, () => window.yunying.reader.measurements().find((m) => m.tool === 'Length' && m.final && m.values.length)?.values, null, { what: 'a length' });
  measured = await length();
  for (let k = 0; k < 20; k++) {
    await page.waitForTimeout(300);
    const again = await length();
    if (again.length === measured.length) break;
    measured = again;
  }
  assert.equal(measured.unit, 'mm');
  await page.click('[data-testid=tool-window]');
  await page.fill('[data-testid=reading-measurement-label]', '结节长径');
  await page.click('[data-testid=reading-add-measurement]');
  const added = await page.$$eval('[data-testid=reading-measurement]', (els) => els.map((e) => ({ value: Number(e.dataset.value), unit: e.dataset.unit, points: JSON.parse(e.dataset.points), text: e.textContent })));
  assert.equal(added.length, 1);
  assert.equal(added[0].unit, 'mm');
  assert.ok(Math.abs(added[0].value - measured.length) <= 0.05, `${added[0].value} is the length drawn (${measured.length})`);
  assert.match(added[0].text, /^结节长径: /);
  // Its ends, in pixels of the image (the line was drawn from column 10 to 54 of row 32).
  assert.equal(added[0].points.length, 2);
  for (const [[column, row], want] of added[0].points.map((p, i) => [p, [[10, 32], [54, 32]][i]])) {
    assert.ok(Math.abs(column - want[0]) < 0.5 && Math.abs(row - want[1]) < 0.5, `${JSON.stringify(added[0].points)}`);
  }
  // No second length drawn: nothing more to add.
  await page.click('[data-testid=reading-add-measurement]');
  assert.match(await message(page), /No length drawn/);

  await page.check('[data-testid=reading-critical]');
  const draft = await page.evaluate(() => window.yunying.reading.draft);
  assert.equal(draft.template_id, 'ct-chest');
  assert.equal(draft.critical, true);

  await page.click('[data-testid=reading-save]');
  await until(page, () => document.querySelector('[data-testid=reading-version][data-version="1"][data-state=draft]'), null, { what: 'version 1 saved' });
  assert.equal(await status(page), 'draft');
  assert.equal(await page.inputValue('[data-testid=reading-impression]'), IMPRESSION, 'the saved text shown again');
  assert.equal(await page.$$eval('[data-testid=reading-key-image]', (els) => els.length), 2);
  await page.click('[data-testid=reading-submit]');
  await until(page, () => document.querySelector('[data-testid=reading-panel] [data-testid=reading-status][data-status=awaiting-review]'), null, { what: 'submitted for review' });
  assert.equal(await page.$('[data-testid=reading-submit]'), null, 'no second submission');
});

test('two-step signing: the author cannot sign the report', async () => {
  // The server says the author may not sign (`may_sign`), so no button is offered.
  assert.equal(await page.$('[data-testid=reading-sign]'), null, 'no sign button for the author');
  assert.equal(await status(page), 'awaiting-review');
  assert.equal(await page.$('[data-testid=reading-version][data-state=signed]'), null);
});

test('a second radiologist signs it from the awaiting-review tab; it is returned with its deliveries', async () => {
  const signer = await newPage(browser, { locale: 'en-GB' });
  await signIn(signer, SIGNER);
  await go(signer, '#/reading');
  await worklistShown(signer);
  await signer.click('[data-testid=reading-tab-awaiting-review]');
  const row = `[data-testid=reading-worklist] tr[data-request="${requestId}"]`;
  await until(signer, (s) => document.querySelector(s), row, { what: 'the request awaiting review' });
  assert.equal(await signer.getAttribute(row, 'data-status'), 'awaiting-review');
  await signer.click(`${row} [data-col=patient]`);
  await requestShown(signer);
  await until(signer, () => document.querySelector('[data-testid=reading-sign]'), null, { what: 'the sign button' });
  assert.equal(await signer.getAttribute('[data-testid=reading-sign]', 'data-version'), '1');
  assert.equal(await signer.inputValue('[data-testid=reading-impression]'), IMPRESSION, 'the signer reads what was written');
  await signer.click('[data-testid=reading-sign]');
  const signed = '[data-testid=reading-version][data-version="1"][data-state=signed]';
  await until(signer, (s) => document.querySelector(s), signed, { what: 'version 1 signed' });
  assert.match(await signer.textContent(`${signed} [data-testid=reading-digest]`), /SM3 digest: [0-9a-f]{64}$/);
  assert.match(await signer.textContent(`${signed} [data-testid=reading-signer]`), new RegExp(`Signed by: ${SIGNER} · `));
  // Returned once every delivery is done: the page follows them.
  await until(signer, () => document.querySelector('[data-testid=reading-panel] [data-testid=reading-status][data-status=returned]'), null, { what: 'the report returned', timeout: 90000 });
  const deliveries = await signer.$$eval('[data-testid=reading-delivery]', (els) => els.map((e) => ({ channel: e.dataset.channel, done: e.dataset.done })));
  for (const c of ['archive', 'dicom', 'stow', 'hl7', 'webhook', 'critical-hl7', 'critical-webhook']) {
    assert.ok(deliveries.some((d) => d.channel === c && d.done === 'true'), `${c} delivered: ${JSON.stringify(deliveries)}`);
  }
  assert.equal(await signer.textContent('[data-testid=reading-signed-report-impression]'), IMPRESSION);
  assert.equal(await signer.$('[data-testid=reading-save]'), null, 'a signed report is not edited in place');
  assert.ok(await signer.$('[data-testid=reading-amend-form]'), 'it may be amended');
  await signer.context().close();
});

test('the township sees it among the requests it sent, with the signed impression', async () => {
  const town = await newPage(browser, { locale: 'en-GB' });
  await signIn(town, TOWN_USER);
  await go(town, '#/reading');
  await worklistShown(town);
  await town.click('[data-testid=reading-side-requesting]');
  const row = `[data-testid=reading-worklist] tr[data-request="${requestId}"]`;
  await until(town, (s) => document.querySelector(s), row, { what: 'the request sent for reading' });
  assert.equal(await town.getAttribute('[data-testid=reading-worklist-view]', 'data-side'), 'requesting');
  assert.equal(await town.getAttribute(row, 'data-status'), 'returned');
  assert.equal(await town.textContent(`${row} [data-col=institution]`), '市影像诊断中心');
  assert.equal(await town.$(`${row} [data-testid=reading-claim]`), null, 'read-only');
  await town.click(`${row} [data-col=patient]`);
  await requestShown(town);
  await until(town, () => document.querySelector('[data-testid=reading-signed-report-impression]'), null, { what: 'the signed report' });
  assert.equal(await town.textContent('[data-testid=reading-signed-report-impression]'), IMPRESSION);
  assert.ok(await town.$('[data-testid=reading-signed-report-critical]'));
  for (const control of ['reading-save', 'reading-sign', 'reading-claim', 'reading-amend-form', 'reading-template']) {
    assert.equal(await town.$(`[data-testid=${control}]`), null, `no ${control} for the requesting institution`);
  }
  // In Chinese.
  await town.click('#lang');
  await requestShown(town);
  await until(town, () => document.querySelector('[data-testid=reading-panel] h1')?.textContent === '阅片申请', null, { what: 'the request in Chinese' });
  assert.equal(await town.textContent('[data-testid=reading-panel] [data-testid=reading-status]'), '已回传');
  await town.context().close();
});

test('the city hospital sees nothing of it', async () => {
  const other = await newPage(browser, { locale: 'en-GB' });
  await signIn(other, OTHER);
  for (const side of ['', '?side=requesting']) {
    await go(other, `#/reading${side}`);
    const page = await worklistShown(other);
    assert.equal(page.requests.some((r) => r.request_id === requestId), false);
    assert.equal(await other.$(`tr[data-request="${requestId}"]`), null);
  }
  await go(other, `#/reading/${requestId}`);
  const refused = await until(other, () => window.yunying.ready && document.querySelector('[data-testid=reading-error-message]')?.textContent, null, { what: 'the refusal' });
  assert.match(refused, /^404: /);
  assert.ok(!refused.includes(STUDY));
  assert.equal(await other.evaluate(() => window.yunying.reader), undefined);
  await other.context().close();
});

test('statistics: the centre\'s turnaround and backlog by requesting institution, with a CSV', async () => {
  await go(page, '#/reading/statistics?by=requesting');
  await until(page, () => window.yunying.ready && window.yunying.reading?.view === 'statistics', null, { what: 'the statistics' });
  const cells = await page.$$eval('[data-testid=reading-stats-table] tbody tr[data-key=TOWN] td', (tds) => tds.map((td) => td.textContent));
  assert.deepEqual(cells.slice(0, 5), ['青山镇卫生院', '1', '1', '0', '0'], 'one request, signed, no backlog; the institution by its name');
  assert.equal(await page.$$eval('[data-testid=reading-chart-turnaround] rect[data-key=TOWN]', (r) => r.length), 2, 'p50 and p90');
  assert.ok(await page.$('[data-testid=reading-chart-backlog]'));
  const csv = await page.getAttribute('[data-testid=reading-stats-csv]', 'href');
  assert.match(csv, /\/api\/reading\/statistics\?by=requesting&side=reading&format=csv$/);
  const text = await page.evaluate((u) => fetch(u).then((r) => r.arrayBuffer()).then((b) => new TextDecoder('utf-8', { ignoreBOM: true }).decode(b)), csv);
  assert.match(text, /^\uFEFFkey,name,requests,signed/, 'with a byte-order mark for spreadsheets');
  assert.match(text, /\nTOWN,青山镇卫生院,1,1,0,0,/);
});

test('the system administrator edits relationships and templates on the administration page', async () => {
  const admin = await newPage(browser, { locale: 'en-GB' });
  await admin.goto(`${BASE}/viewer/?lang=en`);
  await signInPage(admin);
  await submitPassword(admin, ADMIN, PASSWORD);
  const uri = await until(admin, () => document.querySelector('[data-testid=totp-uri]')?.textContent || null, null, { what: 'the enrolment secret' });
  await admin.fill('[data-testid=enrol-code]', totp(secretOf(uri)));
  await admin.click('[data-testid=enrol-submit]');
  await until(admin, () => document.querySelector('[data-testid=admin-link]'), null, { what: 'signed in as the administrator' });
  await go(admin, '#/admin');
  const relationships = '[data-testid=reading-admin-relationships]';
  const text = await until(admin, (s) => document.querySelector(s)?.value || null, relationships, { what: 'the relationships' });
  const rels = JSON.parse(text);
  assert.deepEqual(rels.map((r) => [r.requesting, r.reading, r.two_step, r.automatic]), [['TOWN', 'CENTRE', true, true], ['TOWN', 'PROV', false, false]]);
  const status = () => admin.textContent('[data-testid=remote-reading-status]');
  // Not JSON, and a relationship the server refuses: messages, nothing stored.
  await admin.fill(relationships, '[{');
  await admin.click('[data-testid=reading-admin-relationships-save]');
  await until(admin, () => document.querySelector('[data-testid=remote-reading-status].error'), null, { what: 'the JSON error' });
  assert.match(await status(), /Not JSON/);
  await admin.fill(relationships, JSON.stringify([{ ...rels[0], reading: 'TOWN' }]));
  await admin.click('[data-testid=reading-admin-relationships-save]');
  await until(admin, () => /itself/.test(document.querySelector('[data-testid=remote-reading-status]')?.textContent), null, { what: 'the server\'s refusal' });
  await admin.click('[data-testid=reading-admin-relationships-reload]');
  await until(admin, (s) => JSON.parse(document.querySelector(s).value)[0]?.reading === 'CENTRE', relationships, { what: 'the stored relationship again' });
  // A new template, saved with the others.
  const templates = '[data-testid=reading-admin-templates]';
  const list = JSON.parse(await admin.inputValue(templates));
  assert.ok(list.some((t) => t.id === 'ct-chest'));
  list.push({ id: 'ct-chest-low-dose', name: '胸部低剂量CT', modality: 'CT', body_part: 'CHEST', findings: '双肺未见结节。', impression: '低剂量胸部CT未见明显异常。' });
  await admin.fill(templates, JSON.stringify(list));
  await admin.click('[data-testid=reading-admin-templates-save]');
  await until(admin, () => /6 saved, 0 removed/.test(document.querySelector('[data-testid=remote-reading-status]')?.textContent), null, { what: 'the templates saved' });
  assert.ok(JSON.parse(await admin.inputValue(templates)).some((t) => t.id === 'ct-chest-low-dose'), 'shown as stored');
  await admin.context().close();
});

test('a township technologist asks for a reading from the study reader, then cancels it', async () => {
  // Not offered on a study another institution's grant opens: the centre's radiologist.
  await go(page, `#/study/${STUDY}`);
  await until(page, (uid) => window.yunying.ready && location.hash === `#/study/${uid}`, STUDY, { what: 'the study at the centre' });
  assert.equal(await page.$('[data-testid=reading-new-open]'), null, 'only the study\'s own institution asks');

  const tech = await newPage(browser, { locale: 'en-GB' });
  await signIn(tech, TECH);
  await go(tech, `#/study/${STUDY}`);
  await until(tech, () => window.yunying.ready && document.querySelector('[data-testid=reading-new-open]'), null, { what: 'the request action in the reader' });
  assert.equal((await displayed(tech, 0)).study, STUDY);
  await tech.click('[data-testid=reading-new-open]');
  const submit = '[data-testid=reading-new-submit]';
  await until(tech, (s) => document.querySelector(`${s}:not([disabled])`), submit, { what: 'the form with its institutions' });
  const options = await tech.$$eval('[data-testid=reading-new-institution] option', (els) => els.map((e) => [e.value, e.dataset.covers]));
  assert.deepEqual(options, [['CENTRE', 'true'], ['PROV', 'true']], 'the township\'s reading institutions');
  assert.equal(await tech.inputValue('[data-testid=reading-new-institution]'), 'CENTRE');
  assert.equal(await tech.inputValue('[data-testid=reading-new-priority]'), 'routine');
  assert.equal(await tech.getAttribute('[data-testid=reading-new-clinical]', 'maxlength'), '2000');

  // The centre has this study already (its routing rule's request): the server's refusal, in the form.
  await tech.click(submit);
  const refused = await until(tech, () => document.querySelector('[data-testid=reading-new-error]')?.textContent || null, null, { what: 'the refusal' });
  assert.match(refused, /^409: the study is already requested from CENTRE$/);
  assert.ok(await tech.$('[data-testid=reading-new-dialog][open]'), 'the form stays open');
  assert.match(await tech.evaluate(() => location.hash), /^#\/study\//);

  // The provincial hospital, urgent, with the clinical information and the HIS order.
  await tech.selectOption('[data-testid=reading-new-institution]', 'PROV');
  await tech.selectOption('[data-testid=reading-new-priority]', 'urgent');
  await tech.fill('[data-testid=reading-new-clinical]', CLINICAL);
  assert.equal(await tech.textContent('[data-testid=reading-new-count]'), `${[...CLINICAL].length}/2000 characters`);
  await tech.fill('[data-testid=reading-new-his-order]', HIS_ORDER);
  await tech.click(submit);
  await requestShown(tech);
  const hash = await tech.evaluate(() => location.hash);
  const id = /^#\/reading\/(rr_[A-Za-z0-9_-]+)$/.exec(hash)?.[1];
  assert.ok(id, `the request's page: ${hash}`);
  assert.equal(await tech.$('[data-testid=reading-new-dialog]'), null, 'the form is gone');
  assert.equal(await tech.getAttribute('[data-testid=reading-panel]', 'data-side'), 'requesting');
  assert.equal(await tech.getAttribute('[data-testid=reading-panel] [data-testid=reading-priority]', 'data-priority'), 'urgent');
  assert.equal(await tech.textContent('[data-testid=reading-panel] [data-testid=reading-priority]'), 'Urgent');
  // The requesting side waits for the report: nothing asks it to claim.
  assert.match(await tech.textContent('[data-testid=reading-awaiting-report]'), /Waiting for the reading institution/);
  assert.equal(await status(tech), 'new');
  assert.equal(await tech.textContent('[data-testid=reading-institution]'), '省人民医院');
  assert.ok((await tech.textContent('[data-testid=reading-panel] .rec-order')).includes(CLINICAL), 'the clinical information shown');
  // As the server has it.
  const detail = async () => tech.evaluate((i) => fetch(`/api/reading/requests/${i}`, { headers: { Accept: 'application/json' } }).then((r) => r.json()), id);
  const made = (await detail()).request;
  assert.deepEqual(
    [made.study_instance_uid, made.requesting, made.reading, made.priority, made.status, made.clinical_info, made.his_order_id, made.source],
    [STUDY, 'TOWN', 'PROV', 'urgent', 'new', CLINICAL, HIS_ORDER, 'api']);

  // Cancelled, after saying so once more.
  await tech.click('[data-testid=reading-cancel]');
  await until(tech, () => document.querySelector('[data-testid=reading-cancel-ask]'), null, { what: 'the confirmation' });
  await tech.click('[data-testid=reading-cancel-keep]');
  assert.equal(await tech.$('[data-testid=reading-cancel-ask]'), null);
  assert.equal((await detail()).request.status, 'new', 'kept');
  await tech.click('[data-testid=reading-cancel]');
  await tech.click('[data-testid=reading-cancel-confirm]');
  await until(tech, () => document.querySelector('[data-testid=reading-panel] [data-testid=reading-status][data-status=cancelled]'), null, { what: 'cancelled' });
  assert.equal(await message(tech), 'Request cancelled');
  assert.equal(await tech.$('[data-testid=reading-cancel]'), null, 'nothing more to cancel');
  assert.equal((await detail()).request.status, 'cancelled');

  // Among the requests sent, under "all".
  await go(tech, '#/reading?side=requesting');
  await worklistShown(tech);
  const row = `[data-testid=reading-worklist] tr[data-request="${id}"]`;
  await until(tech, (s) => document.querySelector(s), row, { what: 'the cancelled request sent' });
  assert.equal(await tech.getAttribute(row, 'data-status'), 'cancelled');
  assert.equal(await tech.getAttribute(row, 'data-priority'), 'urgent');
  await tech.context().close();
});
