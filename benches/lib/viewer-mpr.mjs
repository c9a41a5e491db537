// benches/viewer.mjs --mpr: a 300-slice CT opened in multi-planar
// reconstruction, Yunying's viewer (viewer/src/mpr.ts) against OHIF 3.x (the
// prebuilt @ohif/app from npm, its `mpr` hanging protocol), both on the same
// Yunying server, the same data, the same headless Chromium, in the same run,
// the runs interleaved, each a cold page load in a fresh browser context.
// Measured the same way for both:
//   - MPR painted: navigation start → the axial, sagittal and coronal
//     viewports' canvases all show an image (not black), polled every 25 ms
//     in the page;
//   - full volume: navigation start → the last of the series' frames
//     received over WADO-RS (distinct .../instances/{sop}/frames/{n}
//     requests finished, counted by Playwright in the page and its workers);
//     the viewer's own signal as a cross-check (Yunying: the performance
//     mark yunying:mpr-volume-loaded; OHIF: Cornerstone's volume loadStatus);
//   - scroll: once the volume is loaded, N wheel events over the axial
//     viewport, each waiting for Cornerstone's IMAGE_RENDERED on that
//     viewport and the next animation frame; frames per second = N / time.
// Yunying's viewer opens a study in the stack view; its MPR is opened as soon
// as the stack has its series (what a click on the MPR button or the `m` key
// does, done by the page itself at the first moment it can be), so its time
// includes the stack view starting. OHIF opens straight into its MPR layout
// from the URL (`hangingprotocolId=mpr`).
//
//   node benches/viewer.mjs --mpr [--runs 3] [--slices 300] [--steps 100]
//        [--yunying PATH] [--viewer DIR] [--out NAME|PATH] [--only yunying,ohif]
//        [--timeout S] [--server URL [--patient-id ID | --study UID]] [--note TEXT]
//
// --yunying: the server binary (default $YUNYING_BIN, else
// $CARGO_TARGET_DIR/release/yunying); --viewer: Yunying's built viewer
// (default viewer/dist, given to the server as [http] viewer_dir); --out:
// results name under benches/results (default viewer-mpr → .md and .json) or
// a path; --server: measure an already running Yunying (no data generated,
// imported or served here; the study by PatientID, default MPRBENCH, or UID);
// OHIF_VERSION (environment): the @ohif/app version (default 3.13.2).
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir, cpus, totalmem, hostname } from 'node:os';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ohifDist, startOhif, OHIF_VERSION } from './ohif.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const lib = (m) => import(join(ROOT, 'viewer/tests/lib', m));
const { launch, newPage } = await lib('browser.mjs');
const { freePort } = await lib('ports.mjs');

const PLANES = ['axial', 'sagittal', 'coronal'];
/** Goal (issue 29): all three planes painted within this many ms of navigation start. */
const GOAL_FIRST_PAINT = 1000;

export async function main(args) {
  const opt = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const RUNS = Number(opt('runs') ?? 3);
  const SLICES = Number(opt('slices') ?? 300);
  const STEPS = Number(opt('steps') ?? 100);
  const TARGET_DIR = process.env.CARGO_TARGET_DIR ?? join(process.env.HOME, '.cache/yunying/target');
  const BIN = resolve(opt('yunying') ?? process.env.YUNYING_BIN ?? join(TARGET_DIR, 'release/yunying'));
  const DIST = resolve(opt('viewer') ?? join(ROOT, 'viewer/dist'));
  const OUT = opt('out') ?? 'viewer-mpr';
  const ONLY = (opt('only') ?? 'yunying,ohif').split(',');
  const TIMEOUT = Number(opt('timeout') ?? 180) * 1000;
  const SERVER = opt('server');
  const NOTE = opt('note');
  if (!SERVER && !existsSync(BIN)) throw new Error(`no Yunying binary at ${BIN} (cargo build --release, or --yunying PATH)`);
  if (!existsSync(join(DIST, 'index.html'))) throw new Error(`no built viewer at ${DIST} (scripts/build-viewer.sh, or --viewer DIR)`);

  const work = mkdtempSync(join(tmpdir(), 'yy-viewer-mpr-'));
  const cleanup = [];
  const stop = () => { for (const f of cleanup.splice(0).reverse()) try { f(); } catch {} rmSync(work, { recursive: true, force: true }); };
  process.on('exit', stop);
  process.on('SIGINT', () => process.exit(130));

  let yunying = SERVER;
  if (!SERVER) {
    console.log(`== generating a ${SLICES}-slice 512×512 CT`);
    const src = join(work, 'ct');
    execFileSync('python3', [join(ROOT, 'testdata/gen_ct_series.py'), '--out', src, '--slices', String(SLICES), '--rows', '512', '--cols', '512', '--seed', '7', '--patient-id', 'MPRBENCH', '-q'], { stdio: 'inherit' });

    console.log(`== Yunying (${BIN}): import, serve (viewer ${DIST}), wait for renditions`);
    const data = join(work, 'data');
    const env = { ...process.env, YUNYING_LOG: 'warn' };
    delete env.YUNYING_VIEWER_DIR;
    execFileSync(BIN, ['import', '--quiet', '--data-dir', data, join(src, '0')], { stdio: 'inherit', env });
    // Requests from loopback need no credentials (access control has its own benchmark).
    writeFileSync(join(work, 'bench.toml'), `[access]\nanonymous = "loopback"\n\n[http]\nviewer_dir = ${JSON.stringify(DIST)}\n`);
    const httpPort = await freePort();
    const server = spawn(BIN, ['serve', '--config', join(work, 'bench.toml'), '--data-dir', data, '--dicom-port', String(await freePort()), '--http-port', String(httpPort)], { stdio: ['ignore', 'ignore', 'inherit'], env });
    cleanup.push(() => server.kill('SIGTERM'));
    yunying = `http://127.0.0.1:${httpPort}`;
    await waitFor(async () => (await fetch(`${yunying}/healthz`)).ok, 30000, 'Yunying to answer /healthz');
    await waitFor(async () => {
      const m = await (await fetch(`${yunying}/metrics`)).text();
      const n = (state) => Number(new RegExp(`yunying_rendition_jobs\\{state="${state}"\\} (\\d+)`).exec(m)?.[1] ?? NaN);
      return n('pending') === 0 && n('running') === 0 && n('done') >= SLICES;
    }, 1200000, 'the renditions');
  }
  const study = opt('study') ?? await studyUid(`${yunying}/dicom-web`, opt('patient-id') ?? 'MPRBENCH');

  console.log(`== OHIF ${OHIF_VERSION}: static server + /dicom-web proxy to Yunying`);
  const ohif = await startOhif(ohifDist(), yunying, await freePort());
  cleanup.push(() => ohif.close());

  const targets = [
    { key: 'yunying', name: 'Yunying viewer', url: `${yunying}/viewer/?lang=en#/study/${study}` },
    { key: 'ohif', name: `OHIF ${OHIF_VERSION}`, url: `${ohif.url}/viewer?StudyInstanceUIDs=${study}&hangingprotocolId=mpr` },
  ].filter((t) => ONLY.includes(t.key));

  const browser = await launch();
  cleanup.push(() => browser.close());
  const webgl = await webglInfo(browser);
  console.log(`== WebGL: ${webgl.renderer} (${webgl.software ? 'software' : 'hardware'})`);

  const results = [];
  const cpuBefore = cpuTimes();
  const loadBefore = loadavg();
  for (let run = 0; run < RUNS; run++) {
    for (const target of targets) {
      const r = await measure(browser, target, { slices: SLICES, steps: STEPS, timeout: TIMEOUT });
      r.run = run;
      results.push(r);
      console.log(`${target.name} run ${run + 1}: MPR painted ${fmt(r.painted)} ms (viewer's own: ${fmt(r.ownPainted)}), ${r.frames} frames by ${fmt(r.framesDone)} ms (viewer's own: ${fmt(r.ownLoaded)}), scroll ${r.fps?.toFixed(1) ?? '—'} frames/s (${r.scrollMoved} slices moved, ${r.scrollChanged}/${STEPS} steps changed the canvas); load ${r.load1Before.toFixed(2)} → ${r.load1After.toFixed(2)}`);
    }
  }
  const loadAfter = loadavg();
  const cpuAfter = cpuTimes();
  const jiffies = cpuAfter.total - cpuBefore.total;
  const steal = jiffies > 0 ? (100 * (cpuAfter.steal - cpuBefore.steal)) / jiffies : 0;
  const idle = jiffies > 0 ? (100 * (cpuAfter.idle - cpuBefore.idle)) / jiffies : 0;

  const summary = targets.map((t) => {
    const rs = results.filter((r) => r.target === t.name);
    const stat = (k) => {
      const xs = rs.map((r) => r[k]).filter((x) => typeof x === 'number').sort((a, b) => a - b);
      return xs.length ? { median: xs[Math.floor(xs.length / 2)], min: xs[0], max: xs[xs.length - 1], n: xs.length } : null;
    };
    return { target: t.name, key: t.key, painted: stat('painted'), sinceOpen: stat('sinceOpen'), ownPainted: stat('ownPainted'), opened: stat('opened'), framesDone: stat('framesDone'), ownLoaded: stat('ownLoaded'), fps: stat('fps'), runs: rs.length, failures: rs.filter((r) => r.error).map((r) => r.error) };
  });
  const [y, o] = ['yunying', 'ohif'].map((k) => summary.find((s) => s.key === k));
  const ahead = (k, higher = false) => (y?.[k] && o?.[k] ? ((higher ? y[k].median > o[k].median : y[k].median < o[k].median) ? 'yes' : 'no') : '—');

  const cell = (s, digits = 0) => (s ? `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})` : '—');
  const machine = `${hostname()}: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB`;
  const chromium = execFileSync(process.env.CHROMIUM ?? '/usr/bin/chromium', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const commit = gitCommit();
  const la = (l) => l.map((x) => x.toFixed(2)).join(' ');
  const command = `node benches/viewer.mjs ${args.map((a, i) => (args[i - 1] === '--note' ? '"…"' : a)).join(' ')}`.trim();
  const md = [
    '# Viewer benchmark: MPR, Yunying vs OHIF',
    '',
    `Generated by \`${command}\` on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC, working tree at ${commit}.`,
    ...(NOTE ? [NOTE] : []),
    `Machine: ${machine}; ${chromium}, headless; WebGL: ${webgl.renderer} — **${webgl.software ? 'software (SwiftShader), no GPU' : 'hardware'}**. Server, proxy and browser on one machine, loopback.`,
    `CPU while measuring (/proc/stat): ${steal.toFixed(1)}% stolen by the hypervisor, ${idle.toFixed(1)}% idle. Load average (1, 5, 15 min) before: ${la(loadBefore)}; after: ${la(loadAfter)} (${cpus().length} cores; each run's 1-minute load is in the table of runs).`,
    `Data: a ${SLICES}-slice CT, 512×512, 16-bit (\`gen_ct_series.py --slices ${SLICES} --rows 512 --cols 512 --seed 7\`), imported into a fresh data directory of one \`yunying serve\` (binary ${BIN}), its renditions (lossless HTJ2K copies) finished before measuring. Both viewers read that server: Yunying's viewer as it serves it (\`[http] viewer_dir\` = ${DIST}; frames asked for as the HTJ2K copy, else as stored), OHIF ${OHIF_VERSION} (prebuilt \`@ohif/app\` from npm) from a Node static server on another port that forwards \`/dicom-web\` to Yunying (same origin) and sends COOP/COEP; OHIF's DICOMweb data source asks for frames with \`transfer-syntax=*\` and gets them as stored (Explicit VR Little Endian).`,
    `Each run is a cold page load in a fresh browser context (empty HTTP cache, no service worker), 1280×900; runs alternate between the viewers. Median (min–max) of ${RUNS} runs.`,
    '',
    '| Viewer | navigation → 3 MPR planes painted (ms) | navigation → full volume, last frame received (ms) | scroll in MPR, axial (frames/s) | viewer\'s own: planes painted / volume loaded (ms) |',
    '|---|---|---|---|---|',
    ...summary.map((s) => `| ${s.target} | ${cell(s.painted)} | ${cell(s.framesDone)} | ${cell(s.fps, 1)} | ${cell(s.ownPainted)} / ${cell(s.ownLoaded)} |`),
    ...(y && o ? ['', `Yunying ahead of OHIF (medians): planes painted **${ahead('painted')}**, full volume **${ahead('framesDone')}**, scroll **${ahead('fps', true)}**. Goal first MPR paint ≤ ${GOAL_FIRST_PAINT} ms: from navigation start ${y.painted ? (y.painted.median <= GOAL_FIRST_PAINT ? '**met**' : '**not met**') : '—'} (median; ${results.filter((r) => r.key === 'yunying' && r.painted <= GOAL_FIRST_PAINT).length}/${y.runs} runs); from the MPR opening over the stack view (the button) ${cell(y.sinceOpen)} ms, ${y.sinceOpen ? (y.sinceOpen.median <= GOAL_FIRST_PAINT ? '**met**' : '**not met**') : '—'} (${results.filter((r) => r.key === 'yunying' && r.sinceOpen <= GOAL_FIRST_PAINT).length}/${y.runs} runs).`] : []),
    '',
    `Scroll and image size (medians): ${['yunying', 'ohif'].map((key) => {
      const rs = results.filter((r) => r.key === key && r.imageArea);
      const med = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      return rs.length ? `${rs[0].target}: axial image ${Math.round(med(rs.map((r) => r.imageArea))).toLocaleString('en')} px on screen, ${(med(rs.map((r) => r.pixelRate)) / 1e6).toFixed(2)} M image pixels drawn a second` : '';
    }).filter(Boolean).join('; ')}. Each scroll step draws the axial image at the size the viewer's layout gives it; with WebGL in software the time a step takes grows with that area.`,
    '',
    'Every run (load: the 1-minute load average before → after the run):',
    '',
    '| Viewer | run | planes painted (ms) | MPR opened at (ms) | frames received | last frame (ms) | viewer\'s own painted / loaded (ms) | scroll (frames/s; wall; median step ms) | slices moved / canvas changed | sagittal + coronal renders while scrolling | axial image on screen (px); image pixels drawn a second while scrolling (M) | load | error |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) => `| ${r.target} | ${r.run + 1} | ${fmt(r.painted)} | ${fmt(r.opened)} | ${r.frames} | ${fmt(r.framesDone)} | ${fmt(r.ownPainted)} / ${fmt(r.ownLoaded)} | ${r.fps?.toFixed(1) ?? '—'}; ${r.wallFps?.toFixed(1) ?? '—'}; ${fmt(r.stepMedianMs)} | ${r.scrollMoved ?? '—'} / ${r.scrollChanged ?? '—'} of ${STEPS} | ${r.otherPlaneRenders ?? '—'} | ${r.imageArea ? Math.round(r.imageArea) : '—'}; ${r.pixelRate ? (r.pixelRate / 1e6).toFixed(2) : '—'} | ${r.load1Before.toFixed(2)} → ${r.load1After.toFixed(2)} | ${r.error ?? ''} |`),
    '',
    'How it is measured (the same for both viewers):',
    '',
    '- *planes painted*: from navigation start (the page\'s `performance.now()` origin) until the canvases of the axial, sagittal and coronal viewports all hold an image: at least 0.5% of a grid of sampled pixels brighter than 16/255, polled every 25 ms. Yunying: its MPR\'s three viewports; OHIF: the three orthographic viewports of its rendering engine (`window.cornerstone`). *MPR opened at* (Yunying): when the page opened the MPR, at the first moment the stack view had its series (as a click on the MPR button would).',
    '- *last frame*: from navigation start until the last of the series\' frames arrived: distinct `…/instances/{sop}/frames/{n}` WADO-RS requests finished (Playwright `requestfinished`, page and workers). *Viewer\'s own*: Yunying\'s `yunying:mpr-first-paint` / `yunying:mpr-volume-loaded` performance marks (all planes painted with the frame under the crosshair / painted again with every frame); OHIF: the time its Cornerstone volume\'s `loadStatus.loaded` was first seen true (polled every 25 ms).',
    `- *scroll*: after the volume is loaded and 1 s of rest, ${STEPS} mouse wheel notches (Chromium input events through Playwright, deltaY 100) over the middle of the axial viewport, one at a time: each timed in the page from the wheel event to the animation frame after Cornerstone\'s \`IMAGE_RENDERED\` on that viewport; frames/s = steps / the sum of those times (the harness\'s own round trips between steps excluded; with them, in the table of runs as *wall*). *slices moved* checks the notches reached the volume; *canvas changed* counts steps after which the sampled canvas pixels differed.`,
    '- Software WebGL (SwiftShader) makes every volume render cost CPU time on the same two cores that decode frames; on a GPU both viewers render far faster, so the scroll rates here are a floor, and the proportions between the viewers are what carries over.',
    '',
  ].join('\n');
  const out = OUT.includes('/') ? resolve(OUT) : join(ROOT, 'benches/results', OUT);
  writeFileSync(`${out}.md`, md);
  writeFileSync(`${out}.json`, JSON.stringify({ command, commit, machine, chromium, webgl, ohif: OHIF_VERSION, runs: RUNS, slices: SLICES, steps: STEPS, stealPercent: steal, idlePercent: idle, loadBefore, loadAfter, results, summary }, null, 2));
  console.log(`\n${md}`);
  stop();
}

/** One cold page load of `target`: the figures above, or what it got to and an error. */
export async function measure(browser, target, { slices, steps, timeout }) {
  const page = await newPage(browser, { width: 1280, height: 900, locale: 'en-US' });
  const context = page.context();
  const r = { target: target.name, key: target.key, load1Before: loadavg()[0], frames: 0 };
  const frames = new Map();
  let origin;
  const frameKey = (url) => /\/instances\/([^/]+)\/frames\/([^/?]+)(\?|$)/.exec(url);
  context.on('requestfinished', async (request) => {
    const m = frameKey(request.url());
    if (!m) return;
    const at = Date.now();
    const response = await request.response().catch(() => null);
    if (!response || response.status() >= 300) return;
    const key = `${m[1]}/${m[2]}`;
    if (!frames.has(key)) frames.set(key, at);
  });
  try {
    await context.addInitScript(monitorScript, { planes: PLANES, target: target.key });
    await page.goto(target.url, { waitUntil: 'commit' });
    origin = await page.evaluate(() => performance.timeOrigin);
    const deadline = Date.now() + timeout;
    // Planes painted, then every frame received and the viewer's own signal.
    while (Date.now() < deadline) {
      const s = await page.evaluate(() => window.__bench).catch(() => undefined);
      if (s?.painted !== undefined && frames.size >= slices && s.ownLoaded !== undefined) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    const s = await page.evaluate(() => window.__bench);
    r.painted = s.painted;
    r.opened = s.opened;
    r.ownPainted = s.ownPainted;
    r.ownLoaded = s.ownLoaded;
    r.frames = frames.size;
    r.framesDone = frames.size >= slices ? Math.max(...frames.values()) - origin : undefined;
    r.sinceOpen = r.opened !== undefined && r.painted !== undefined ? r.painted - r.opened : undefined;
    if (r.painted === undefined) throw new Error('the three planes were never painted');
    if (r.frames < slices) throw new Error(`only ${r.frames} of ${slices} frames received`);
    await page.waitForTimeout(1000);
    Object.assign(r, await scrollAxial(page, steps));
  } catch (e) {
    r.error = e.message.split('\n')[0];
    console.log(`${target.name}: ${e.message}\n${page.consoleLog.filter((l) => !l.startsWith('debug')).slice(-15).join('\n')}`);
    await page.screenshot({ path: join(tmpdir(), `viewer-mpr-${target.key}.png`) }).catch(() => {});
  }
  r.load1After = loadavg()[0];
  await context.close();
  return r;
}

/**
 * Runs in the page before its own scripts: finds the three MPR viewports'
 * canvases (and, for Yunying, opens the MPR as soon as it can), and records
 * in `window.__bench` when all three first hold an image, and the viewer's
 * own painted/loaded signals.
 */
function monitorScript({ planes, target }) {
  const bench = (window.__bench = {});
  const now = () => performance.now();
  const viewports = () => {
    if (target === 'yunying') {
      const mpr = window.yunying?.reader?.mpr;
      if (!mpr?.engine) return null;
      const vps = planes.map((p) => { try { return mpr.viewport(p); } catch { return undefined; } });
      return vps.every(Boolean) ? vps : null;
    }
    const cs = window.cornerstone;
    const vps = (cs?.getRenderingEngines?.() ?? []).flatMap((e) => e.getViewports()).filter((v) => v.type === 'orthographic');
    return vps.length >= 3 ? vps.slice(0, 3) : null;
  };
  bench.viewports = viewports;
  const painted = (canvas) => {
    if (!canvas || !canvas.width || !canvas.height) return false;
    const ctx = canvas.getContext('2d', { willReadFrequently: true });
    if (!ctx) return false;
    const { data, width, height } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let bright = 0;
    let total = 0;
    const step = Math.max(1, Math.floor(Math.min(width, height) / 96));
    for (let y = 0; y < height; y += step) {
      for (let x = 0; x < width; x += step) {
        const i = (y * width + x) * 4;
        total++;
        if (data[i] > 16 || data[i + 1] > 16 || data[i + 2] > 16) bright++;
      }
    }
    return bright >= total * 0.005;
  };
  bench.isPainted = painted;
  let opening = false;
  const tick = () => {
    try {
      if (target === 'yunying') {
        const reader = window.yunying?.reader;
        if (reader && !reader.mpr.active && !opening && bench.opened === undefined && reader.active?.viewport?.getCurrentImageId?.()) {
          opening = true;
          const at = now();
          reader.mpr.enter().then((ok) => { if (ok) bench.opened = at; opening = false; }, (e) => { bench.lastError = String(e); reader.mpr.exit(); opening = false; });
        }
        const marks = (name) => performance.getEntriesByName(name)[0]?.startTime;
        bench.ownPainted ??= marks('yunying:mpr-first-paint');
        bench.ownLoaded ??= marks('yunying:mpr-volume-loaded');
      } else {
        const vols = window.cornerstone?.cache?.getVolumes?.() ?? [];
        if (bench.ownLoaded === undefined && vols.length && vols.every((v) => v.loadStatus?.loaded)) bench.ownLoaded = now();
      }
      if (bench.painted === undefined) {
        const vps = viewports();
        if (vps && vps.every((v) => painted(v.canvas))) {
          bench.painted = now();
        }
      }
    } catch (e) {
      bench.lastError = String(e);
    }
    if (bench.painted === undefined || bench.ownLoaded === undefined) setTimeout(tick, 25);
  };
  setTimeout(tick, 25);
}

/**
 * `steps` mouse wheel notches (Chromium input events, deltaY 100) over the
 * axial viewport; each step timed in the page from the wheel event reaching
 * the page to the animation frame after Cornerstone's IMAGE_RENDERED there.
 */
async function scrollAxial(page, steps) {
  const box = await page.evaluate(() => {
    const b = window.__bench;
    const vp = b.viewports()[0];
    const canvas = vp.canvas;
    const sliceOf = () => { try { return vp.getSliceIndex?.() ?? vp.getCurrentImageIdIndex?.(); } catch { return undefined; } };
    const signature = () => {
      const { data } = canvas.getContext('2d', { willReadFrequently: true }).getImageData(0, 0, canvas.width, canvas.height);
      let h = 0;
      for (let i = 0; i < data.length; i += 4 * 7) h = (h * 31 + data[i]) | 0;
      return h;
    };
    b.scroll = { before: sliceOf(), sliceOf, signature, last: signature(), changed: 0, timeouts: 0, ms: [] };
    window.addEventListener('wheel', () => { b.scroll.wheelAt ??= performance.now(); }, { capture: true, passive: true });
    b.scroll.others = 0;
    for (const other of b.viewports().slice(1)) other.element.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => { b.scroll.others++; });
    b.arm = () => {
      b.scroll.wheelAt = undefined;
      b.scroll.next = new Promise((resolve) => {
        const timer = setTimeout(() => { b.scroll.timeouts++; resolve(); }, 3000);
        vp.element.addEventListener('CORNERSTONE_IMAGE_RENDERED', () => requestAnimationFrame(() => {
          clearTimeout(timer);
          if (b.scroll.wheelAt !== undefined) b.scroll.ms.push(performance.now() - b.scroll.wheelAt);
          resolve();
        }), { once: true });
      });
    };
    b.settle = async () => {
      await b.scroll.next;
      const now = b.scroll.signature();
      if (now !== b.scroll.last) b.scroll.changed++;
      b.scroll.last = now;
    };
    const r = vp.element.getBoundingClientRect();
    return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
  });
  // OHIF's first-visit tour (a modal over the viewports) would take the wheel.
  const skip = page.getByText('Skip all', { exact: true });
  if (await skip.count()) { await skip.first().click(); await page.waitForTimeout(300); }
  const hit = await page.evaluate(({ x, y }) => window.__bench.viewports()[0].element.contains(document.elementFromPoint(x, y)), box);
  if (!hit) throw new Error('something covers the axial viewport: the wheel would not reach it');
  await page.mouse.move(box.x, box.y);
  const start = Date.now();
  for (let i = 0; i < steps; i++) {
    await page.evaluate(() => window.__bench.arm());
    await page.mouse.wheel(0, 100);
    await page.evaluate(() => window.__bench.settle());
  }
  const wall = Date.now() - start;
  const s = await page.evaluate(() => {
    const { before, sliceOf, changed, timeouts, ms, others } = window.__bench.scroll;
    const after = sliceOf();
    // The axial image's area on the canvas (CSS pixels): what each step draws.
    const vp = window.__bench.viewports()[0];
    let area;
    try {
      const [x0, x1, y0, y1] = vp.getImageData().imageData.getBounds();
      const z = vp.getCamera().focalPoint[2];
      const corners = [[x0, y0, z], [x1, y0, z], [x1, y1, z], [x0, y1, z]].map((w) => vp.worldToCanvas(w));
      const xs = corners.map((c) => Math.min(vp.canvas.clientWidth, Math.max(0, c[0])));
      const ys = corners.map((c) => Math.min(vp.canvas.clientHeight, Math.max(0, c[1])));
      area = (Math.max(...xs) - Math.min(...xs)) * (Math.max(...ys) - Math.min(...ys));
    } catch { area = undefined; }
    return { moved: before !== undefined && after !== undefined ? Math.abs(after - before) : undefined, changed, timeouts, ms, others, area };
  });
  const total = s.ms.reduce((a, b) => a + b, 0);
  const sorted = [...s.ms].sort((a, b) => a - b);
  return {
    fps: s.timeouts || !s.ms.length ? undefined : s.ms.length / (total / 1000),
    wallFps: steps / (wall / 1000), stepMedianMs: sorted[Math.floor(sorted.length / 2)], scrollTimeouts: s.timeouts,
    scrollChanged: s.changed, scrollMoved: s.moved, otherPlaneRenders: s.others, imageArea: s.area,
    pixelRate: s.area && !s.timeouts && s.ms.length ? (s.area * s.ms.length) / (total / 1000) : undefined,
  };
}

async function webglInfo(browser) {
  const page = await newPage(browser, { width: 200, height: 200 });
  const info = await page.evaluate(() => {
    const gl = document.createElement('canvas').getContext('webgl2') ?? document.createElement('canvas').getContext('webgl');
    if (!gl) return { renderer: 'no WebGL', software: true };
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    const renderer = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    const vendor = ext ? gl.getParameter(ext.UNMASKED_VENDOR_WEBGL) : gl.getParameter(gl.VENDOR);
    return { renderer: `${vendor} / ${renderer}`, software: /swiftshader|llvmpipe|software/i.test(`${vendor} ${renderer}`) };
  });
  await page.context().close();
  return info;
}

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

function gitCommit() {
  try {
    const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', ROOT, 'status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() ? ' (with uncommitted changes of other work in progress)' : '';
    return `${head}${dirty}`;
  } catch { return '?'; }
}

function loadavg() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

function cpuTimes() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f;
  return { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait, steal };
}

function fmt(x) {
  return typeof x === 'number' ? x.toFixed(0) : '—';
}
