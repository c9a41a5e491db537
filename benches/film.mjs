#!/usr/bin/env node
// Cloud film benchmark: a patient opens the film link of a 300-slice CT on
// a phone over 4G (headless Chromium, network throttled through the
// DevTools protocol to Chrome's "Fast 4G" preset: 165 ms round trip,
// 9 Mbit/s down, 1.5 Mbit/s up, each scaled by DevTools' 0.9 factor), and
// answers the verification question. Measured per cold page load:
//   - page ready: navigation start → verification form shown;
//   - after verification: the verification answer received → the first
//     image painted (goal ≤ 300 ms);
//   - from the click: the answer submitted → the first image painted
//     (one more round trip, the verification itself);
//   - JS + CSS: bytes on the wire (compressed) of scripts and style sheets
//     fetched before the first image (goal ≤ 150 KB).
// As a reference for the image request alone, the same run fetches
// Orthanc 1.10.1's rendered preview of the same slice (/instances/…/preview,
// rendered on demand: Orthanc keeps no previews) under the same throttle.
// No peer has a film page to compare the whole flow with.
//
//   node benches/film.mjs [--runs 7] [--slices 300]
//
// Needs: a release build (cargo build --release), the built viewer
// (scripts/build-viewer.sh), Debian's chromium and orthanc, python3 with
// pydicom. Writes benches/results/film.{md,json}.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const lib = (m) => import(join(ROOT, 'viewer/tests/lib', m));
const { launch } = await lib('browser.mjs');
const { startOrthanc, uploadToOrthanc } = await lib('orthanc.mjs');
const { freePort } = await lib('ports.mjs');

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = arg('runs', 7);
const SLICES = arg('slices', 300);
const TARGET = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/yunying/target');
const BIN = join(TARGET, 'release/yunying');
const DIST = join(ROOT, 'viewer/dist');
const API_TOKEN = 'film-bench-token';
/** Chrome DevTools' "Fast 4G" (front_end/core/sdk/NetworkManager.ts). */
const FAST_4G = { offline: false, latency: 60 * 2.75, downloadThroughput: (9 * 1000 * 1000 / 8) * 0.9, uploadThroughput: (1.5 * 1000 * 1000 / 8) * 0.9 };

const work = mkdtempSync(join(tmpdir(), 'yy-film-bench-'));
const cleanup = [];
process.on('exit', () => { for (const f of cleanup.reverse()) try { f(); } catch {} rmSync(work, { recursive: true, force: true }); });

console.log(`== generating ${SLICES} CT slices`);
execFileSync('python3', [join(ROOT, 'testdata/gen_ct_series.py'), '--out', join(work, 'ct'), '--slices', String(SLICES), '--seed', '21',
  '--patient-name', 'Chen^JianGuo=陈^建国', '--charset', 'ISO_IR 192', '-q'], { stdio: 'inherit' });
const series = join(work, 'ct', '0');
const birth = execFileSync('python3', ['-c', `import pydicom, glob; print(pydicom.dcmread(sorted(glob.glob('${series}/*'))[0]).PatientBirthDate)`]).toString().trim();

console.log('== Yunying: import, serve, wait for renditions');
const data = join(work, 'data');
execFileSync(BIN, ['import', '--quiet', '--data-dir', data, series], { stdio: 'inherit', env: { ...process.env, YUNYING_LOG: 'warn' } });
const httpPort = await freePort();
// Requests from loopback need no credentials here (access control has its own benchmark).
writeFileSync(join(work, 'bench.toml'), '[access]\nanonymous = "loopback"\n');
const yunying = spawn(BIN, ['serve', '--config', join(work, 'bench.toml'), '--data-dir', data, '--dicom-port', String(await freePort()), '--http-port', String(httpPort)], {
  stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, YUNYING_LOG: 'warn', YUNYING_VIEWER_DIR: DIST, YUNYING_API_TOKEN: API_TOKEN },
});
cleanup.push(() => yunying.kill('SIGTERM'));
const base = `http://127.0.0.1:${httpPort}`;
await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 30000, 'Yunying');
await waitFor(async () => {
  const m = await (await fetch(`${base}/metrics`)).text();
  const n = (state) => Number(new RegExp(`yunying_rendition_jobs\\{state="${state}"\\} (\\d+)`).exec(m)?.[1] ?? NaN);
  return n('pending') === 0 && n('running') === 0 && n('done') >= SLICES;
}, 600000, 'renditions');
const study = (await (await fetch(`${base}/dicom-web/studies`)).json())[0]['0020000D'].Value[0];

console.log('== Orthanc: start, upload');
const orthanc = await startOrthanc();
cleanup.push(() => orthanc.stop());
await uploadToOrthanc(orthanc.url, [series]);

const browser = await launch();
cleanup.push(() => browser.close());
const runs = [];
for (let run = 0; run < RUNS; run++) {
  const r = await fetch(`${base}/api/films`, { method: 'POST', headers: { Authorization: `Bearer ${API_TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ study }) });
  const film = await r.json();
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, locale: 'zh-CN' });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await cdp.send('Network.emulateNetworkConditions', FAST_4G);
  await page.goto(film.url);
  await page.waitForFunction(() => window.yunyingFilm?.stage === 'verify', null, { timeout: 60000 });
  const ready = await page.evaluate(() => performance.now());
  await page.fill('[data-testid=answer]', birth);
  const clicked = await page.evaluate(() => {
    const t = performance.now();
    document.querySelector('[data-testid=verify]').click();
    return t;
  });
  await page.waitForFunction(() => window.yunyingFilm.painted > 0, null, { timeout: 60000, polling: 'raf' });
  const m = await page.evaluate(() => {
    const s = window.yunyingFilm;
    const before = performance.getEntriesByType('resource').filter((e) => e.startTime < s.painted && /\.(js|css)(\?|$)/.test(e.name));
    return { verified: s.verifiedAt, painted: s.painted, assets: before.reduce((n, e) => n + e.transferSize, 0), decoded: before.reduce((n, e) => n + e.decodedBodySize, 0), files: before.map((e) => e.name.split('/').pop()) };
  });
  runs.push({ ready, afterVerification: m.painted - m.verified, fromClick: m.painted - clicked, assetsBytes: m.assets, assetsDecoded: m.decoded, files: m.files });
  console.log(`run ${run + 1}: ready ${ready.toFixed(0)} ms, after verification ${(m.painted - m.verified).toFixed(0)} ms, from click ${(m.painted - clicked).toFixed(0)} ms, JS+CSS ${(m.assets / 1024).toFixed(1)} KB`);
  await context.close();
}

// Reference: Orthanc's on-demand preview of the same first slice, same throttle.
const ids = await (await fetch(`${orthanc.url}/instances?expand`)).json();
const first = ids.sort((a, b) => Number(a.MainDicomTags.InstanceNumber) - Number(b.MainDicomTags.InstanceNumber))[0].ID;
const orthancRuns = [];
for (let run = 0; run < RUNS; run++) {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
  await cdp.send('Network.emulateNetworkConditions', FAST_4G);
  await page.goto(`${orthanc.url}/system`);
  const t = await page.evaluate(async (url) => {
    const img = new Image();
    const t0 = performance.now();
    img.src = `${url}?t=${Math.random()}`;
    await img.decode();
    return performance.now() - t0;
  }, `${orthanc.url}/instances/${first}/preview`);
  orthancRuns.push(t);
  await context.close();
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const range = (xs) => `${Math.min(...xs).toFixed(0)}–${Math.max(...xs).toFixed(0)}`;
const col = (k) => runs.map((r) => r[k]);
const row = (name, xs, goal) => `| ${name} | ${median(xs).toFixed(0)} ms | ${range(xs)} | ${goal} |`;
const md = [
  '# Cloud film: link to first image on a phone over 4G',
  '',
  `${new Date().toISOString().slice(0, 10)} · ${cpus().length} cores (${cpus()[0].model}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB · headless Chromium, ${RUNS} cold page loads, ${SLICES}-slice CT (512×512) · network: Chrome DevTools "Fast 4G" (165 ms RTT, 8.1 Mbit/s down, 1.35 Mbit/s up)`,
  '',
  '| Measure | Median | Range | Goal |',
  '|---|---|---|---|',
  row('navigation → verification form', col('ready'), ''),
  row('verification answer → first image painted', col('afterVerification'), '≤ 300 ms'),
  row('answer submitted → first image painted', col('fromClick'), ''),
  `| JS + CSS before the first image (on the wire) | ${(median(col('assetsBytes')) / 1024).toFixed(1)} KB | ${(Math.min(...col('assetsBytes')) / 1024).toFixed(1)}–${(Math.max(...col('assetsBytes')) / 1024).toFixed(1)} KB (${(median(col('assetsDecoded')) / 1024).toFixed(1)} KB decoded) | ≤ 150 KB |`,
  row('reference: Orthanc 1.10.1 /instances/…/preview of the same slice, request → decoded', orthancRuns, ''),
  '',
  `Assets before the first image: ${runs[0].files.join(', ')}.`,
  '',
  'Command: `scripts/build-viewer.sh && cargo build --release && node benches/film.mjs`',
  '',
].join('\n');
console.log(`\n${md}`);
writeFileSync(join(ROOT, 'benches/results/film.md'), md);
writeFileSync(join(ROOT, 'benches/results/film.json'), JSON.stringify({ runs, orthancRuns }, null, 1));
process.exit(0);

async function waitFor(fn, ms, what) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {}
    if (Date.now() > deadline) throw new Error(`${what}: not ready in ${ms} ms`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
