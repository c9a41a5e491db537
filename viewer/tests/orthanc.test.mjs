// The viewer relies on standard DICOMweb only: pointed at Orthanc 1.10.1's
// DICOMweb plugin (behind a same-origin proxy, as Orthanc sends no CORS
// headers), holding the files under VIEWER_DATA, it lists and displays the study.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { launch, newPage, until } from './lib/browser.mjs';
import { startOrthanc, uploadToOrthanc, startProxy } from './lib/orthanc.mjs';
import { frameValues, instancesByZ, qido, v } from './lib/dicom.mjs';
import { assertDisplays } from './lib/display.mjs';

const DIST = fileURLToPath(new URL('../dist', import.meta.url));
let orthanc;
let proxy;
let browser;

before(async () => {
  assert.ok(process.env.VIEWER_DATA, 'VIEWER_DATA must name a folder of DICOM files');
  orthanc = await startOrthanc();
  await uploadToOrthanc(orthanc.url, [process.env.VIEWER_DATA]);
  proxy = await startProxy(DIST, orthanc.url);
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await proxy?.close();
  orthanc?.stop();
});

test('the viewer lists and displays a study from Orthanc', async () => {
  const dicomweb = `${proxy.url}/dicom-web`;
  const [study] = await qido(dicomweb, '/studies', { PatientID: process.env.VIEWER_PATIENT_ID });
  const uid = v(study, '0020000D');
  const page = await newPage(browser);
  await page.goto(`${proxy.url}/viewer/`);
  await until(page, () => window.yunying?.ready && document.querySelector('tbody tr'), null, { what: 'worklist rows' });
  await page.fill('[data-testid=filter-patientId]', process.env.VIEWER_PATIENT_ID);
  await page.click('[data-testid=search]');
  await until(page, (uid) => document.querySelectorAll('tbody tr').length === 1 && document.querySelector(`tr[data-study="${uid}"]`), uid, { what: 'the study listed' });
  assert.equal(await page.textContent(`tr[data-study="${uid}"] [data-col=name]`), '陈建国 (Chen JianGuo)');
  await page.click(`tr[data-study="${uid}"]`);
  const state = await until(page, () => window.yunying.reader?.panels[0]?.state().firstImage && window.yunying.reader.panels[0].state(), null, { what: 'first image' });
  const expectedCount = Number(process.env.VIEWER_SLICES);
  assert.equal(state.count, expectedCount);
  // The viewer asked for nothing beyond standard DICOMweb: no renditions.
  assert.equal(await page.evaluate(() => window.yunying.web.config.renditions), false);
  // It shows the first slice (head end) in the dataset's window.
  const series = await page.evaluate(() => window.yunying.reader.panels[0].series.uid);
  const [top] = await instancesByZ(dicomweb, uid, series);
  assert.equal(state.position[2], top.z);
  await page.waitForTimeout(300);
  const values = await frameValues(dicomweb, uid, series, top.sop);
  await assertDisplays(page, 0, values, { rows: 512, cols: 512, intercept: -1024, center: 40, width: 400 });
  await until(page, (n) => window.yunying.reader.panels[0].state().loaded === n, expectedCount, { what: 'all slices', timeout: 60000 });
});
