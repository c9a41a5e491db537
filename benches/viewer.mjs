#!/usr/bin/env node
// Viewer benchmark: a 300-slice CT opened in the web viewer (headless
// Chromium, loopback), on Yunying with its renditions (stored preview first,
// then the lossless HTJ2K copies), on Yunying with plain DICOMweb frames as
// stored, and on Orthanc 1.10.1's DICOMweb plugin (same viewer, same data,
// same run). Measured per cold page load:
//   - preview: the stored preview painted (Yunying only);
//   - first image: the first full-fidelity frame rendered by Cornerstone;
//   - all loaded: every slice in the cache;
//   - scroll: frames per second stepping through 150 loaded slices, each
//     step waiting for its render.
// Times are from opening the study (the reader starting, as after a click
// in the worklist), and, for the preview and first image, also from
// navigation start (a cold page load: the viewer's own code included).
//
//   node benches/viewer.mjs [--runs 5] [--slices 300]
//
// Needs: a release build (cargo build --release), the built viewer
// (npm run build in viewer/), Debian's chromium and orthanc-dicomweb,
// python3 with pydicom (the data generator). Writes
// benches/results/viewer.{md,json}.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const lib = (m) => import(join(ROOT, 'viewer/tests/lib', m));
const { launch, newPage, until } = await lib('browser.mjs');
const { startOrthanc, uploadToOrthanc, startProxy } = await lib('orthanc.mjs');
const { freePort } = await lib('ports.mjs');

const args = process.argv.slice(2);
const arg = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = arg('runs', 5);
const SLICES = arg('slices', 300);
const TARGET = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/yunying/target');
const BIN = join(TARGET, 'release/yunying');
const DIST = join(ROOT, 'viewer/dist');

const work = mkdtempSync(join(tmpdir(), 'yy-viewer-bench-'));
const cleanup = [];
process.on('exit', () => { for (const f of cleanup.reverse()) try { f(); } catch {} rmSync(work, { recursive: true, force: true }); });

console.log(`== generating ${SLICES} CT slices`);
execFileSync('python3', [join(ROOT, 'testdata/gen_ct_series.py'), '--out', join(work, 'ct'), '--slices', String(SLICES), '--seed', '5', '--patient-name', 'Li^Na=李^娜', '-q'], { stdio: 'inherit' });
const series = join(work, 'ct', '0');

console.log('== Yunying: import, serve, wait for renditions');
const data = join(work, 'data');
execFileSync(BIN, ['import', '--quiet', '--data-dir', data, series], { stdio: 'inherit', env: { ...process.env, YUNYING_LOG: 'warn' } });
const httpPort = await freePort();
// Requests from loopback need no credentials here (access control has its own benchmark).
writeFileSync(join(work, 'bench.toml'), '[access]\nanonymous = "loopback"\n');
const yunying = spawn(BIN, ['serve', '--config', join(work, 'bench.toml'), '--data-dir', data, '--dicom-port', String(await freePort()), '--http-port', String(httpPort)], {
  stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, YUNYING_LOG: 'warn', YUNYING_VIEWER_DIR: DIST },
});
cleanup.push(() => yunying.kill('SIGTERM'));
const yunyingUrl = `http://127.0.0.1:${httpPort}`;
await waitFor(async () => (await fetch(`${yunyingUrl}/healthz`)).ok, 30000, 'Yunying');
await waitFor(async () => {
  const m = await (await fetch(`${yunyingUrl}/metrics`)).text();
  const n = (state) => Number(new RegExp(`yunying_rendition_jobs\\{state="${state}"\\} (\\d+)`).exec(m)?.[1] ?? NaN);
  return n('pending') === 0 && n('running') === 0 && n('done') >= SLICES;
}, 600000, 'renditions');

console.log('== Orthanc: start, upload');
const orthanc = await startOrthanc();
cleanup.push(() => orthanc.stop());
await uploadToOrthanc(orthanc.url, [series]);
const proxy = await startProxy(DIST, orthanc.url);
cleanup.push(() => proxy.close());

const study = await studyUid(`${yunyingUrl}/dicom-web`);
const targets = [
  { name: 'Yunying, renditions (preview → HTJ2K copy)', url: `${yunyingUrl}/viewer/#/study/${study}` },
  { name: 'Yunying, frames as stored', url: `${yunyingUrl}/viewer/?renditions=0#/study/${study}` },
  { name: 'Orthanc 1.10.1 DICOMweb', url: `${proxy.url}/viewer/#/study/${study}` },
];

const browser = await launch();
cleanup.push(() => browser.close());
const results = [];
const cpuBefore = cpuTimes();
for (let run = 0; run < RUNS; run++) {
  for (const target of targets) {
    const page = await newPage(browser, { width: 1280, height: 900 });
    await page.goto(target.url);
    const m = await until(page, () => {
      const r = window.yunying?.reader;
      return r?.marks['all-loaded'] !== undefined && r.marks;
    }, null, { timeout: 120000, what: `${target.name}: all slices` });
    const fps = await page.evaluate(async () => {
      const panel = window.yunying.reader.panels[0];
      const element = panel.element;
      const steps = 150;
      const rendered = () => new Promise((resolve) => element.addEventListener('CORNERSTONE_IMAGE_RENDERED', resolve, { once: true }));
      const start = performance.now();
      for (let i = 1; i <= steps; i++) {
        const done = rendered();
        window.yunying.reader.scroll(1);
        await done;
      }
      return steps / ((performance.now() - start) / 1000);
    });
    const since = (k) => (m[k] === undefined ? null : m[k] - m.opened);
    results.push({ target: target.name, run, preview: since('preview'), first: since('first-image'), all: since('all-loaded'), fps, coldPreview: m.preview ?? null, coldFirst: m['first-image'] });
    console.log(`${target.name} run ${run + 1}: opened at ${fmt(m.opened)} ms; then preview ${fmt(since('preview'))} ms, first image ${fmt(since('first-image'))} ms, all ${fmt(since('all-loaded'))} ms; scroll ${fps.toFixed(1)} fps`);
    await page.context().close();
  }
}

const cpuAfter = cpuTimes();
const total = cpuAfter.total - cpuBefore.total;
const steal = total > 0 ? (100 * (cpuAfter.steal - cpuBefore.steal)) / total : 0;
const idle = total > 0 ? (100 * (cpuAfter.idle - cpuBefore.idle)) / total : 0;

const summary = targets.map((t) => {
  const rs = results.filter((r) => r.target === t.name);
  const stat = (k) => {
    const xs = rs.map((r) => r[k]).filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
    return xs.length ? { median: xs[Math.floor(xs.length / 2)], min: xs[0], max: xs[xs.length - 1] } : null;
  };
  return { target: t.name, preview: stat('preview'), first: stat('first'), all: stat('all'), fps: stat('fps'), coldPreview: stat('coldPreview'), coldFirst: stat('coldFirst') };
});
const cell = (s, digits = 0) => (s ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})` : '—');
const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`;
const chromium = execFileSync('/usr/bin/chromium', ['--version']).toString().trim();
const md = [
  '# Viewer benchmark',
  '',
  `Generated by \`node benches/viewer.mjs --runs ${RUNS} --slices ${SLICES}\` on ${new Date().toISOString().slice(0, 10)}.`,
  `Machine: ${machine}; ${chromium}, headless, software rendering; server, browser and Orthanc on one machine, loopback.`,
  `CPU while measuring (from /proc/stat): ${steal.toFixed(1)}% stolen by the hypervisor, ${idle.toFixed(1)}% idle.`,
  `Data: one ${SLICES}-slice CT series, 512×512 16-bit (gen_ct_series.py), renditions finished before measuring.`,
  'Each run is a cold page load in a fresh browser context (no HTTP cache) straight into the study. Median (min–max) of the runs.',
  'Chromium here has no GPU: its WebGL is SwiftShader, so the viewer renders with Cornerstone\'s CPU path (it detects software WebGL; `?cpu=0` forces WebGL).',
  '',
  'From opening the study (the reader starting, as after a click in the worklist):',
  '',
  '| Server | preview painted (ms) | first image (ms) | all slices loaded (ms) | scroll (frames/s) |',
  '|---|---|---|---|---|',
  ...summary.map((s) => `| ${s.target} | ${cell(s.preview)} | ${cell(s.first)} | ${cell(s.all)} | ${cell(s.fps, 1)} |`),
  '',
  'From navigation start (includes downloading and starting the viewer, about 3.4 MB of JavaScript):',
  '',
  '| Server | preview painted (ms) | first image (ms) |',
  '|---|---|---|',
  ...summary.map((s) => `| ${s.target} | ${cell(s.coldPreview)} | ${cell(s.coldFirst)} |`),
  '',
  'Goals (issue 6): first image ≤ 500 ms after opening, all slices ≤ 3 s, scrolling ≥ 30 frames/s.',
  '',
].join('\n');
writeFileSync(join(ROOT, 'benches/results/viewer.md'), md);
writeFileSync(join(ROOT, 'benches/results/viewer.json'), JSON.stringify({ machine, chromium, runs: RUNS, slices: SLICES, stealPercent: steal, idlePercent: idle, results, summary }, null, 2));
console.log(`\n${md}`);
process.exit(0);

async function waitFor(fn, timeout, what) {
  const end = Date.now() + timeout;
  while (Date.now() < end) {
    try { if (await fn()) return; } catch {}
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function studyUid(dicomweb) {
  const r = await fetch(`${dicomweb}/studies`, { headers: { Accept: 'application/dicom+json' } });
  const [s] = await r.json();
  return s['0020000D'].Value[0];
}

/** Jiffies of all CPUs: total, idle (with iowait) and stolen. */
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait, steal };
}

function fmt(x) {
  return x === undefined || x === null ? '—' : x.toFixed(0);
}
