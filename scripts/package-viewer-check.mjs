// The installed package's viewer, seen by a user: scripts/package-test.sh runs
//   node scripts/package-viewer-check.mjs URL STUDY_UID PATIENT_NAME DESCRIPTION [TOKEN_FILE]
// after storescu sent the study. In headless Chromium (Debian's
// /usr/bin/chromium driven by the viewer's playwright-core, through
// viewer/tests/lib/browser.mjs, so `cd viewer && npm ci` first) it opens
// URL/viewer/, signs in on the sign-in page with the API key in TOKEN_FILE
// (a line `Authorization: Bearer yk_…`, or the bare key; the key never goes
// on a command line) when the server asks for one (the package's default
// configuration refuses anonymous requests), waits for the worklist row of
// STUDY_UID and checks that it shows PATIENT_NAME (DICOM PN, `^` between
// components) and DESCRIPTION, opens the study by clicking the row, waits
// for the first image to be shown in the first viewport (the viewer's own
// `firstImage` and `shown` state, as the viewer tests wait for) and reads the
// viewport's canvas back from a screenshot: it must be painted (at least 2%
// dark, 5% mid-grey and 2% bright pixels, not one flat colour). At most
// 60 s (YUNYING_VIEWER_CHECK_TIMEOUT seconds); any failure prints what the
// page showed and the browser's console, and exits 1.
import { readFileSync } from 'node:fs';
import { launch, newPage, until } from '../viewer/tests/lib/browser.mjs';
import { signInPage, submitToken } from '../viewer/tests/lib/signin.mjs';
import { decode, grey } from '../viewer/tests/lib/png.mjs';

const [base, studyUid, patientName, description, tokenFile] = process.argv.slice(2);
if (!base || !studyUid || !patientName || !description) {
  console.error('usage: node scripts/package-viewer-check.mjs URL STUDY_UID PATIENT_NAME DESCRIPTION [TOKEN_FILE]');
  process.exit(2);
}
const limit = Number(process.env.YUNYING_VIEWER_CHECK_TIMEOUT ?? 60) * 1000;
const started = Date.now();
const left = () => Math.max(1000, limit - (Date.now() - started));

let browser;
let page;
let failing = false;
const fail = async (message) => {
  if (failing) return new Promise(() => {}); // the first failure speaks
  failing = true;
  // (A wait's own message ends with the console: it is printed once, below.)
  console.error(`package-viewer-check: ${message.split('\nconsole:')[0]}`);
  if (page) {
    const shown = await page.evaluate(() => document.body?.innerText?.replace(/\n+/g, ' | ').slice(0, 400)).catch(() => '?');
    console.error(`-- the page showed:\n${shown}`);
    if (page.consoleLog?.length) console.error(`-- the browser's console (last 20):\n${page.consoleLog.slice(-20).join('\n')}`);
  }
  await browser?.close().catch(() => {});
  process.exit(1);
};
// The waits below end by `left()`; this is for a step that hangs anyway.
const timer = setTimeout(() => { void fail(`not done within ${limit / 1000} s`); }, limit + 5000);

try {
  const token = tokenFile ? readFileSync(tokenFile, 'utf8').trim().replace(/^Authorization:\s*Bearer\s+/i, '') : '';
  browser = await launch();
  page = await newPage(browser, { width: 1280, height: 900, locale: 'en-US' });
  await page.goto(`${base}/viewer/?lang=en`, { timeout: left() });

  // The sign-in page (no anonymous access) or the worklist (anonymous access).
  const first = await until(page, () => (document.querySelector('[data-testid=login]') && 'login')
    || (window.yunying?.ready && document.querySelector('[data-testid=worklist]') && 'worklist'), null,
  { timeout: left(), what: 'the sign-in page or the worklist' });
  if (first === 'login') {
    if (!token) await fail('the viewer asks for a sign-in and no token file was given');
    await signInPage(page);
    await submitToken(page, token);
  }

  // The study sent, in the worklist (newest first: it is on the first page).
  const row = `tr[data-study="${studyUid}"]`;
  await until(page, (sel) => document.querySelector(sel), row, { timeout: left(), what: `the worklist row of study ${studyUid}` });
  const cells = await page.$eval(row, (r) => ({
    name: r.querySelector('[data-col=name]')?.textContent ?? '',
    description: r.querySelector('[data-col=description]')?.textContent ?? '',
  }));
  const expectedName = patientName.split('^').filter(Boolean).join(' ');
  if (cells.name !== expectedName) await fail(`the worklist row shows patient "${cells.name}", expected "${expectedName}"`);
  if (cells.description !== description) await fail(`the worklist row shows description "${cells.description}", expected "${description}"`);

  // Opened, its first image shown in the first viewport.
  await page.click(row);
  const state = await until(page, () => {
    const s = window.yunying?.reader?.panels?.[0]?.state();
    return s?.firstImage && s.shown && s;
  }, null, { timeout: left(), what: 'the first image shown in the viewport' });

  // Painted: the canvas read back holds dark, mid-grey and bright pixels.
  await page.waitForTimeout(200);
  const canvas = await page.$('[data-panel=vp0] .cs');
  if (!canvas) await fail('no viewport canvas ([data-panel=vp0] .cs)');
  const box = await canvas.boundingBox();
  if (!box || box.width < 64 || box.height < 64) await fail(`the viewport canvas is ${JSON.stringify(box)}`);
  const png = decode(await page.screenshot({ clip: box, timeout: left() }));
  const bands = [0, 0, 0]; // < 48, 48..207, > 207
  for (let y = 0; y < png.height; y += 2) {
    for (let x = 0; x < png.width; x += 2) {
      const g = grey(png, x, y);
      bands[g < 48 ? 0 : g > 207 ? 2 : 1]++;
    }
  }
  const total = bands[0] + bands[1] + bands[2];
  const share = bands.map((n) => n / total);
  // The overlay's text alone gives a few bright and mid-grey pixels, far
  // below these shares; this CT phantom fills about a third of the
  // canvas with mid-grey and a tenth with white.
  if (share[0] < 0.02 || share[1] < 0.05 || share[2] < 0.02) {
    await fail(`the viewport is not painted with the image: dark/mid/bright pixel shares ${share.map((s) => s.toFixed(3)).join('/')}`);
  }
  clearTimeout(timer);
  console.log(`   viewer: worklist row "${cells.name}" / "${cells.description}"; opened, image ${state.index + 1}/${state.count} shown `
    + `(${Math.round(box.width)}x${Math.round(box.height)} canvas, dark/mid/bright ${share.map((s) => s.toFixed(2)).join('/')}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  await browser.close();
} catch (e) {
  await fail(e.message);
}
