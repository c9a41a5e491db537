#!/usr/bin/env node
// Viewer benchmark: CT series of 300 and 1,000 slices opened in the web
// viewer (headless Chromium, loopback), on Yunying with its renditions
// (stored preview first, then the lossless HTJ2K copies), on Yunying with
// plain DICOMweb frames as stored, and on Orthanc 1.10.1's DICOMweb plugin
// (same viewer, same data, same run). Measured per cold page load:
//   - preview: the stored preview painted (Yunying only);
//   - first image: the first full-fidelity frame rendered by Cornerstone;
//   - all loaded: every slice in the cache;
//   - scroll: frames per second stepping through 150 loaded slices, each
//     step waiting for its render.
// Times are from opening the study (the reader starting, as after a click
// in the worklist), and, for the preview and first image, also from
// navigation start (a cold page load: the viewer's own code included).
// Every run is reported, with the machine's load average (`uptime`) before
// and after it: other work on the machine shows there.
//
//   node benches/viewer.mjs [--runs 5] [--slices 300,1000] [--yunying PATH]
//                           [--viewer DIR] [--baseline DIR [--baseline-note TEXT]]
//                           [--out NAME]
//
// --yunying: the server binary (default: $YUNYING_BIN, else
// $CARGO_TARGET_DIR/release/yunying); --viewer: the built viewer (default
// viewer/dist); --baseline: another viewer build measured in the same run,
// interleaved (each on a server and proxy of its own; its rows are marked
// "[baseline viewer]"); --out: results file name (default viewer →
// benches/results/viewer.{md,json}).
//
// With --mpr, the MPR benchmark against OHIF 3.x instead (a 300-slice CT in
// multi-planar reconstruction: planes painted, full volume, scroll rate; see
// benches/lib/viewer-mpr.mjs for its options).
//
// Needs: a release build (cargo build --release), the built viewer
// (npm run build in viewer/), Debian's chromium and orthanc-dicomweb,
// python3 with pydicom (the data generator).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { resolve } from 'node:path';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
// --mpr: the MPR benchmark against OHIF instead (benches/lib/viewer-mpr.mjs).
if (process.argv.includes('--mpr')) {
  const { main } = await import('./lib/viewer-mpr.mjs');
  await main(process.argv.slice(2));
  process.exit(0);
}
const lib = (m) => import(join(ROOT, 'viewer/tests/lib', m));
const { launch, newPage, until } = await lib('browser.mjs');
const { startOrthanc, uploadToOrthanc, startProxy } = await lib('orthanc.mjs');
const { freePort } = await lib('ports.mjs');

const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const RUNS = Number(opt('runs') ?? 5);
const SIZES = (opt('slices') ?? '300,1000').split(',').map(Number);
const TARGET = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/yunying/target');
const BIN = resolve(opt('yunying') ?? process.env.YUNYING_BIN ?? join(TARGET, 'release/yunying'));
const DIST = resolve(opt('viewer') ?? join(ROOT, 'viewer/dist'));
const BASELINE = opt('baseline') ? resolve(opt('baseline')) : undefined;
/** What the baseline build is, for the report (e.g. the commit it was built from). */
const BASELINE_NOTE = opt('baseline-note') ?? 'another build';
const OUT = opt('out') ?? 'viewer';
/** Goals for every run (issue 28): first image, all slices loaded, by series size. */
const GOALS = { first: 500, all: (slices) => (slices >= 1000 ? 6000 : 3000) };

const work = mkdtempSync(join(tmpdir(), 'yy-viewer-bench-'));
const cleanup = [];
process.on('exit', () => { for (const f of cleanup.reverse()) try { f(); } catch {} rmSync(work, { recursive: true, force: true }); });

const datasets = SIZES.map((slices, k) => {
  console.log(`== generating ${slices} CT slices`);
  const out = join(work, `ct${slices}`);
  execFileSync('python3', [join(ROOT, 'testdata/gen_ct_series.py'), '--out', out, '--slices', String(slices), '--seed', String(5 + k), '--patient-id', `VIEWERBENCH${slices}`, '--patient-name', 'Li^Na=李^娜', '-q'], { stdio: 'inherit' });
  return { slices, dir: join(out, '0'), patientId: `VIEWERBENCH${slices}` };
});

const total = SIZES.reduce((a, b) => a + b, 0);
// Requests from loopback need no credentials here (access control has its own benchmark).
writeFileSync(join(work, 'bench.toml'), '[access]\nanonymous = "loopback"\n');

/** A Yunying server of its own (data directory, ports) serving the viewer build `dist`, renditions done. */
async function startYunying(name, dist) {
  console.log(`== Yunying (${BIN}, viewer ${dist}): import, serve, wait for renditions`);
  const data = join(work, `data-${name}`);
  for (const d of datasets) execFileSync(BIN, ['import', '--quiet', '--data-dir', data, d.dir], { stdio: 'inherit', env: { ...process.env, YUNYING_LOG: 'warn' } });
  const httpPort = await freePort();
  const server = spawn(BIN, ['serve', '--config', join(work, 'bench.toml'), '--data-dir', data, '--dicom-port', String(await freePort()), '--http-port', String(httpPort)], {
    stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, YUNYING_LOG: 'warn', YUNYING_VIEWER_DIR: dist },
  });
  cleanup.push(() => server.kill('SIGTERM'));
  const url = `http://127.0.0.1:${httpPort}`;
  await waitFor(async () => (await fetch(`${url}/healthz`)).ok, 30000, 'Yunying');
  await waitFor(async () => {
    const m = await (await fetch(`${url}/metrics`)).text();
    const n = (state) => Number(new RegExp(`yunying_rendition_jobs\\{state="${state}"\\} (\\d+)`).exec(m)?.[1] ?? NaN);
    return n('pending') === 0 && n('running') === 0 && n('done') >= total;
  }, 1200000, 'renditions');
  return url;
}

// The viewer measured, and with --baseline another build of it (before a
// change), each on a server of its own, the runs interleaved.
const viewers = [{ label: '', dist: DIST }];
if (BASELINE) viewers.push({ label: ' [baseline viewer]', dist: BASELINE });
for (const [k, v] of viewers.entries()) v.yunying = await startYunying(String(k), v.dist);

console.log('== Orthanc: start, upload');
const orthanc = await startOrthanc();
cleanup.push(() => orthanc.stop());
await uploadToOrthanc(orthanc.url, datasets.map((d) => d.dir));
for (const v of viewers) {
  v.proxy = await startProxy(v.dist, orthanc.url);
  cleanup.push(() => v.proxy.close());
}

const targets = [];
for (const d of datasets) {
  for (const v of viewers) {
    const study = await studyUid(`${v.yunying}/dicom-web`, d.patientId);
    targets.push(
      { slices: d.slices, name: `Yunying, renditions (preview → HTJ2K copy)${v.label}`, url: `${v.yunying}/viewer/#/study/${study}` },
      { slices: d.slices, name: `Yunying, frames as stored${v.label}`, url: `${v.yunying}/viewer/?renditions=0#/study/${study}` },
      { slices: d.slices, name: `Orthanc 1.10.1 DICOMweb${v.label}`, url: `${v.proxy.url}/viewer/#/study/${study}` },
    );
  }
}

const browser = await launch();
cleanup.push(() => browser.close());
const results = [];
const cpuBefore = cpuTimes();
const loadBefore = loadavg();
for (let run = 0; run < RUNS; run++) {
  for (const target of targets) {
    const page = await newPage(browser, { width: 1280, height: 900 });
    const load1Before = loadavg()[0];
    await page.goto(target.url);
    const m = await until(page, () => {
      const r = window.yunying?.reader;
      return r?.marks['all-loaded'] !== undefined && r.marks;
    }, null, { timeout: 180000, what: `${target.name}: all slices` });
    const workers = await page.evaluate(() => window.yunying.frames ?? null);
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
    const r = {
      slices: target.slices, target: target.name, run, preview: since('preview'), first: since('first-image'), all: since('all-loaded'), fps,
      coldPreview: m.preview ?? null, coldFirst: m['first-image'], load1Before, load1After: loadavg()[0],
      workers: workers?.workers ?? 0, decodedInWorkers: workers?.decoded ?? 0,
    };
    results.push(r);
    console.log(`${target.slices} slices, ${target.name} run ${run + 1}: opened at ${fmt(m.opened)} ms; then preview ${fmt(r.preview)} ms, first image ${fmt(r.first)} ms, all ${fmt(r.all)} ms; scroll ${fps.toFixed(1)} fps; load ${r.load1Before.toFixed(2)} → ${r.load1After.toFixed(2)}; ${r.decodedInWorkers} frames decoded in ${r.workers} frame workers`);
    await page.context().close();
  }
}
const loadAfter = loadavg();

const cpuAfter = cpuTimes();
const jiffies = cpuAfter.total - cpuBefore.total;
const steal = jiffies > 0 ? (100 * (cpuAfter.steal - cpuBefore.steal)) / jiffies : 0;
const idle = jiffies > 0 ? (100 * (cpuAfter.idle - cpuBefore.idle)) / jiffies : 0;

const summary = targets.map((t) => {
  const rs = results.filter((r) => r.target === t.name && r.slices === t.slices);
  const stat = (k) => {
    const xs = rs.map((r) => r[k]).filter((x) => x !== null && x !== undefined).sort((a, b) => a - b);
    return xs.length ? { median: xs[Math.floor(xs.length / 2)], min: xs[0], max: xs[xs.length - 1] } : null;
  };
  const goal = GOALS.all(t.slices);
  return {
    slices: t.slices, target: t.name, preview: stat('preview'), first: stat('first'), all: stat('all'), fps: stat('fps'), coldPreview: stat('coldPreview'), coldFirst: stat('coldFirst'),
    runsMeetingGoals: rs.filter((r) => r.first !== null && r.first <= GOALS.first && r.all <= goal).length, runs: rs.length,
  };
});
const cell = (s, digits = 0) => (s ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})` : '—');
const machine = `${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`;
const chromium = execFileSync('/usr/bin/chromium', ['--version']).toString().trim();
const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
const md = [
  '# Viewer benchmark',
  '',
  `Generated by \`node benches/viewer.mjs --runs ${RUNS} --slices ${SIZES.join(',')}${BASELINE ? ' --baseline DIR' : ''}${OUT === 'viewer' ? '' : ` --out ${OUT}`}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC.`,
  `Machine: ${machine}; ${chromium}, headless, software rendering; server, browser and Orthanc on one machine, loopback.`,
  `CPU while measuring (from /proc/stat): ${steal.toFixed(1)}% stolen by the hypervisor, ${idle.toFixed(1)}% idle. Load average (1, 5, 15 min) before: ${la(loadBefore)}; after: ${la(loadAfter)}; each run's 1-minute load before and after is in the table of runs (the machine has ${cpus().length} cores: a load above that means other work was running).`,
  ...(BASELINE ? [`Rows marked [baseline viewer]: ${BASELINE_NOTE}, measured in the same run, interleaved with the viewer under test (each on a Yunying server and an Orthanc proxy of its own, same data).`] : []),
  `Data: CT series of ${SIZES.join(' and ')} slices, 512×512 16-bit (gen_ct_series.py), renditions finished before measuring.`,
  'Each run is a cold page load in a fresh browser context (no HTTP cache) straight into the study. Median (min–max) of the runs, then every run.',
  'Chromium here has no GPU: its WebGL is SwiftShader, so the viewer renders with Cornerstone\'s CPU path (it detects software WebGL; `?cpu=0` forces WebGL).',
  '',
  'From opening the study (the reader starting, as after a click in the worklist):',
  '',
  '| Slices | Server | preview painted (ms) | first image (ms) | all slices loaded (ms) | scroll (frames/s) | runs within the goals |',
  '|---|---|---|---|---|---|---|',
  ...summary.map((s) => `| ${s.slices} | ${s.target} | ${cell(s.preview)} | ${cell(s.first)} | ${cell(s.all)} | ${cell(s.fps, 1)} | ${s.runsMeetingGoals}/${s.runs} |`),
  '',
  'From navigation start (includes downloading and starting the viewer, about 3.5 MB of JavaScript):',
  '',
  '| Slices | Server | preview painted (ms) | first image (ms) |',
  '|---|---|---|---|',
  ...summary.map((s) => `| ${s.slices} | ${s.target} | ${cell(s.coldPreview)} | ${cell(s.coldFirst)} |`),
  '',
  'Every run (from opening the study; load: the 1-minute load average before → after the run):',
  '',
  '| Slices | Server | run | preview (ms) | first image (ms) | all loaded (ms) | scroll (frames/s) | frames decoded in workers | load |',
  '|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) => `| ${r.slices} | ${r.target} | ${r.run + 1} | ${fmt(r.preview)} | ${fmt(r.first)} | ${fmt(r.all)} | ${r.fps.toFixed(1)} | ${r.workers ? `${r.decodedInWorkers} (${r.workers} workers)` : '—'} | ${r.load1Before.toFixed(2)} → ${r.load1After.toFixed(2)} |`),
  '',
  `Goals (issue 28), for every run: first image ≤ ${GOALS.first} ms after opening; all slices ≤ ${GOALS.all(300)} ms for 300 slices, ≤ ${GOALS.all(1000)} ms for 1,000; scrolling ≥ 30 frames/s.`,
  '',
].join('\n');
writeFileSync(join(ROOT, `benches/results/${OUT}.md`), md);
writeFileSync(join(ROOT, `benches/results/${OUT}.json`), JSON.stringify({ machine, chromium, runs: RUNS, slices: SIZES, stealPercent: steal, idlePercent: idle, loadBefore, loadAfter, goals: { firstMs: GOALS.first, allMs: Object.fromEntries(SIZES.map((n) => [n, GOALS.all(n)])) }, results, summary }, null, 2));
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

async function studyUid(dicomweb, patientId) {
  const r = await fetch(`${dicomweb}/studies?PatientID=${encodeURIComponent(patientId)}`, { headers: { Accept: 'application/dicom+json' } });
  const [s] = await r.json();
  return s['0020000D'].Value[0];
}

/** The 1, 5 and 15-minute load averages, as `uptime` shows them. */
function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
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
