// Multi-planar reconstruction and 3D in the radiologist viewer
// (viewer/src/mpr.ts) against a running Yunying (YUNYING_URL) holding a
// 300-slice CT of VIEWER_PATIENT_ID (testdata/gen_ct_series.py's chest
// phantom) and a 5-slice CT of VIEWER_FEW_ID, in headless Chromium or
// Firefox (lib/browser.mjs). Started by
// tests/it/viewer_mpr.rs. What the planes show is compared with the source
// slices read over WADO-RS, put through the DICOM window.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, until } from './lib/browser.mjs';
import { assertDisplays } from './lib/display.mjs';
import { frameValues, qido, v, windowed } from './lib/dicom.mjs';
import { column, flatVoxels, seriesVolume } from './lib/volume.mjs';

const BASE = process.env.YUNYING_URL;
const DICOMWEB = `${BASE}/dicom-web`;
const PATIENT = process.env.VIEWER_PATIENT_ID ?? 'MPR-CT';
const FEW = process.env.VIEWER_FEW_ID;
const ENHANCED = process.env.VIEWER_ENHANCED_ID;
const PLANES = ['axial', 'sagittal', 'coronal'];
/** The stack slice the MPR is opened at. */
const START = 100;
let browser;
let page;
let study;
let vol;

before(async () => {
  assert.ok(BASE, 'YUNYING_URL must point at a running Yunying');
  const studies = await qido(DICOMWEB, '/studies', { PatientID: PATIENT });
  assert.equal(studies.length, 1, `one study of ${PATIENT}`);
  study = v(studies[0], '0020000D');
  const series = await qido(DICOMWEB, `/studies/${study}/series`);
  vol = await seriesVolume(DICOMWEB, study, v(series[0], '0020000E'));
  assert.equal(vol.instances.length, 300);
  browser = await launch();
  page = await newPage(browser, { width: 1400, height: 1000, locale: 'en-US' });
});

after(async () => {
  await browser?.close();
});

const mpr = () => page.evaluate(() => window.yunying.reader.mpr.state());
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const degrees = (a, b) => (Math.acos(Math.min(1, Math.abs(dot(a, b)))) * 180) / Math.PI;

/** The MPR once no plane has been drawn again for 400 ms (a render takes up to a few hundred with SwiftShader). */
async function settled() {
  let last = '';
  for (let i = 0; i < 150; i++) {
    const s = await mpr();
    const now = JSON.stringify(PLANES.map((p) => s.planes[p]?.renders));
    if (now === last) return s;
    last = now;
    await page.waitForTimeout(400);
  }
  throw new Error('the planes never stop rendering');
}

/** Wait until `planes` have rendered since `before` (an MPR state), then until every plane settles. */
async function renderedSince(before, what, planes = PLANES) {
  const counts = planes.map((p) => before.planes[p].renders);
  await until(page, ([planes, counts]) => {
    const s = window.yunying.reader.mpr.state();
    return planes.every((p, k) => s.planes[p].renders > counts[k]);
  }, [planes, counts], { what, timeout: 60000 });
  return settled();
}

/** Grey level (0–255) a plane's canvas shows at a world point; null outside it. */
const shown = (plane, world) => page.evaluate(([plane, world]) => {
  const [x, y] = window.yunying.reader.mpr.canvasPoint(plane, world);
  const canvas = document.querySelector(`[data-mpr=${plane}] canvas`);
  if (!(x >= 0 && y >= 0 && x < canvas.clientWidth && y < canvas.clientHeight)) return null;
  const scale = canvas.width / canvas.clientWidth;
  const d = canvas.getContext('2d').getImageData(Math.floor(x * scale), Math.floor(y * scale), 1, 1).data;
  return (d[0] + d[1] + d[2]) / 3;
}, [plane, world]);

/** Move the crosshair to `world` and wait for the planes to show it. */
async function crosshairAt(world) {
  const before = await mpr();
  await page.evaluate((w) => window.yunying.reader.mpr.setCrosshair(w), world);
  return renderedSince(before, 'the planes drawn at the crosshair');
}

async function slab(thickness, mode) {
  const before = await mpr();
  await page.selectOption('[data-testid=mpr-blend]', mode);
  await page.fill('[data-testid=mpr-slab]', String(thickness));
  await page.press('[data-testid=mpr-slab]', 'Tab');
  await until(page, ([t, m]) => {
    const s = window.yunying.reader.mpr.state();
    return s.slabThickness === t && s.slabMode === m;
  }, [thickness, mode], { what: `slab ${thickness} mm ${mode}` });
  return renderedSince(before, `planes drawn with a ${thickness} mm slab`);
}

async function preset(key, center, width) {
  const before = await mpr();
  // Keys typed into the toolbar's boxes are theirs, not shortcuts.
  await page.evaluate(() => document.activeElement?.blur());
  await page.keyboard.press(key);
  const s = await renderedSince(before, `window ${center}/${width}`);
  for (const p of PLANES) assert.deepEqual(s.planes[p].voi, { center, width }, `${p} window`);
}

test('MPR opens a 300-slice CT at the stack\'s slice and streams every frame', async () => {
  await page.goto(`${BASE}/viewer/?lang=en#/study/${study}`);
  await until(page, () => window.yunying?.reader?.panels[0]?.state().firstImage, null, { what: 'first image' });
  for (let i = 0; i < START / 10; i++) await page.keyboard.press('PageDown');
  await until(page, (i) => { const s = window.yunying.reader.panels[0].state(); return s.index === i && s.shown; }, START, { what: `stack at slice ${START + 1}` });
  // A volumetric series shown: the MPR's engine is made ahead while the page is idle, its shaders compiled.
  await until(page, () => window.yunying.reader.mpr.state().spare === 'ready', null, { what: 'the MPR engine made ahead' });
  await page.click('[data-testid=mpr]');
  const first = await until(page, () => { const s = window.yunying.reader.mpr.state(); return s.timing.firstPaint !== undefined && s; }, null, { what: 'MPR first paint', timeout: 60000 });
  assert.equal(first.active, true);
  assert.equal(first.spare, 'none', 'the engine made ahead is the one the MPR took');
  assert.equal(first.frames, 300);
  // The axial plane and the crosshair are at the slice the stack showed.
  const z = vol.instances[START].position[2];
  assert.ok(Math.abs(first.planes.axial.focalPoint[2] - z) < 0.01, `axial plane at z ${first.planes.axial.focalPoint[2]}, stack at ${z}`);
  assert.ok(Math.abs(first.crosshair[2] - z) < 0.01);
  assert.deepEqual(first.planes.axial.normal.map(Math.abs), [0, 0, 1]);
  assert.deepEqual(first.planes.sagittal.normal.map(Math.abs), [1, 0, 0]);
  assert.deepEqual(first.planes.coronal.normal.map(Math.abs), [0, 1, 0]);
  const full = await until(page, () => { const s = window.yunying.reader.mpr.state(); return s.timing.volumeLoaded !== undefined && s; }, null, { what: 'the whole volume', timeout: 120000 });
  assert.equal(full.arrived, 300);
  assert.equal(full.loaded, 1);
  assert.ok(full.timing.firstPaint <= full.timing.volumeLoaded);
  const marks = await page.evaluate(() => ['start', 'first-paint', 'volume-loaded'].map((m) => performance.getEntriesByName(`yunying:mpr-${m}`).length));
  assert.deepEqual(marks, [1, 1, 1]);
  console.log(`MPR: first paint of the three planes ${first.timing.firstPaint.toFixed(0)} ms (${first.arrived}/300 frames then), whole volume ${full.timing.volumeLoaded.toFixed(0)} ms`);
});

test('the crosshair shows the same voxel in the three planes, with the value of the source slice', async () => {
  await preset('4', 300, 1500);
  // Flat voxels of three slices: the brightest of one, one near 40 HU, the darkest of another.
  const [a, b, c] = await Promise.all([75, 150, 225].map((k) => flatVoxels(vol, k, { flat: 24 })));
  const points = [
    a.reduce((x, y) => (y.value > x.value ? y : x)),
    b.reduce((x, y) => (Math.abs(y.value - 40) < Math.abs(x.value - 40) ? y : x)),
    c.filter((p) => p.value > -300).reduce((x, y) => (y.value < x.value ? y : x)),
  ];
  const expected = points.map((p) => windowed(p.value, 300, 1500));
  assert.ok(Math.max(...expected) - Math.min(...expected) >= 20, `points too alike: ${JSON.stringify(points)}`);
  for (const p of points) {
    const world = vol.world(p.k, p.row, p.col);
    const s = await crosshairAt(world);
    assert.ok(Math.hypot(...sub(s.crosshair, world)) < 0.01, `crosshair ${s.crosshair}, wanted ${world}`);
    // Each plane passes through the point.
    for (const plane of PLANES) {
      const { focalPoint, normal } = s.planes[plane];
      assert.ok(Math.abs(dot(sub(world, focalPoint), normal)) < 0.01, `${plane} plane misses ${world}`);
    }
    // The volume holds the source value there, and each plane shows it through the window.
    assert.equal(await page.evaluate((w) => window.yunying.reader.mpr.sample(w), world), p.value, `voxel ${JSON.stringify(p)}`);
    const want = windowed(p.value, 300, 1500);
    for (const plane of PLANES) {
      const grey = await shown(plane, world);
      assert.ok(grey !== null && Math.abs(grey - want) <= 6, `${plane} shows ${grey} at slice ${p.k} row ${p.row} col ${p.col} (${p.value} HU), expected ${want.toFixed(1)}`);
    }
  }
});

test('a 20 mm MIP slab is brighter than the single slice where a vessel passes; the average lies between', async () => {
  await preset('3', -600, 1500);
  const lung = await lungPoint();
  const world = vol.world(lung.k, lung.r, lung.c);
  await crosshairAt(world);
  const single = await shown('axial', world);
  assert.ok(Math.abs(single - windowed(lung.value, -600, 1500)) <= 8, `single slice shows ${single} at ${lung.value} HU`);
  let s = await slab(20, 'mip');
  for (const plane of PLANES) assert.deepEqual([s.planes[plane].slab, s.planes[plane].blend], [20, 'mip'], plane);
  const mip = await shown('axial', world);
  assert.ok(mip - single >= 40, `20 mm MIP ${mip} vs single slice ${single}: the vessel ${lung.vesselAt} mm away (${lung.vessel} HU) missing`);
  assert.ok(mip <= windowed(lung.within11, -600, 1500) + 8, `20 mm MIP ${mip} brighter than anything within 11 mm (${lung.within11} HU)`);
  s = await slab(20, 'avg');
  assert.equal(s.planes.axial.blend, 'avg');
  const average = await shown('axial', world);
  assert.ok(average >= single - 3 && average <= mip + 3, `average ${average} not between ${single} and ${mip}`);
  s = await slab(0, 'mip');
  assert.equal(s.planes.axial.blend, 'composite');
  assert.ok(Math.abs((await shown('axial', world)) - single) <= 3, 'a single slice again');
  // What the thickness box takes: a number of millimetres, bounded; anything else is a single slice.
  for (const [typed, thickness] of [['100000', 500], ['-5', 0], ['100000', 500], ['1e400', 0]]) {
    await page.fill('[data-testid=mpr-slab]', typed);
    await page.press('[data-testid=mpr-slab]', 'Tab');
    await until(page, (t) => window.yunying.reader.mpr.state().slabThickness === t, thickness, { what: `${typed} typed as the slab: ${thickness} mm` });
  }
  await slab(0, 'mip');
});

test('a slab reaches half its thickness either side (10 mm against 20 mm through a disc); MinIP through a vertebra shows the discs', async () => {
  await preset('2', 40, 400);
  const disc = await discPoint();
  const world = vol.world(disc.k, disc.row, disc.col);
  await crosshairAt(world);
  const single = await shown('axial', world);
  assert.ok(Math.abs(single - windowed(disc.value, 40, 400)) <= 8, `single slice shows ${single} at ${disc.value} HU`);
  await slab(10, 'mip');
  const thin = await shown('axial', world);
  assert.ok(thin <= windowed(disc.within6, 40, 400) + 6, `10 mm MIP ${thin}: brighter than anything within 6 mm (${disc.within6} HU)`);
  await slab(20, 'mip');
  const thick = await shown('axial', world);
  assert.ok(thick >= windowed(disc.within9, 40, 400) - 8, `20 mm MIP ${thick}: darker than the vertebra 9 mm away (${disc.within9} HU)`);
  assert.ok(thick - thin >= 15, `20 mm MIP ${thick} vs 10 mm ${thin}`);

  await preset('4', 300, 1500);
  const bone = await bonePoint();
  const inBone = vol.world(bone.k, bone.row, bone.col);
  await slab(20, 'minip');
  await crosshairAt(inBone);
  const minip = await shown('axial', inBone);
  const s = await slab(0, 'minip');
  assert.equal(s.planes.axial.blend, 'composite');
  const boneSingle = await shown('axial', inBone);
  assert.ok(Math.abs(boneSingle - windowed(bone.value, 300, 1500)) <= 6, `single slice shows ${boneSingle} at ${bone.value} HU`);
  assert.ok(boneSingle - minip >= 12, `MinIP ${minip} vs single slice ${boneSingle} in a vertebral body`);
  assert.ok(minip >= windowed(bone.lowest, 300, 1500) - 6, `MinIP ${minip} darker than anything within 11 mm (${bone.lowest} HU)`);
});

/**
 * In one of a few slices of the source: a lung voxel, lung 6 voxels around
 * it, that a vessel (not a rib) crosses within 7 mm above or below.
 */
async function lungPoint() {
  for (const k of [150, 120, 180, 100, 200]) {
    const values = await vol.slice(k);
    const value = (r, c) => values[r * vol.cols + c];
    const lung = (r, c) => Math.max(...[-1, 0, 1].flatMap((dr) => [-1, 0, 1].map((dc) => value(r + dr, c + dc)))) < -750
      && [[-6, 0], [6, 0], [0, -6], [0, 6]].every(([dr, dc]) => value(r + dr, c + dc) < -700);
    for (let r = 8; r < vol.rows - 8; r += 2) {
      for (let c = 8; c < vol.cols - 8; c += 2) {
        if (!lung(r, c)) continue;
        const col = await column(vol, k, r, c, 11);
        const near = col.filter((x) => Math.abs(x.dz) <= 7).reduce((a, b) => (b.centre > a.centre ? b : a));
        const within11 = Math.max(...col.map((x) => x.hi));
        if (near.centre > -300 && within11 < 300) {
          return { k, r, c, value: value(r, c), within11, vessel: near.centre, vesselAt: Math.abs(near.dz) };
        }
      }
    }
  }
  throw new Error('no lung voxel crossed by a vessel within 7 mm in slices 100–200');
}

/** Slices nearest the middle first. */
const middleOut = () => Array.from({ length: 101 }, (_, i) => 150 + (i % 2 ? -1 : 1) * Math.ceil(i / 2));

/**
 * A flat voxel of a disc between vertebrae (the phantom's spine alternates
 * every 25 mm): darker than the vertebral bodies 9 mm above or below by
 * 100 HU or more.
 */
async function discPoint() {
  for (const k of middleOut()) {
    const flat = (await flatVoxels(vol, k, { flat: 24, step: 2 })).filter((p) => p.value > 40 && p.value < 140);
    for (const p of flat) {
      const col = await column(vol, k, p.row, p.col, 9);
      const within = (d) => col.filter((x) => Math.abs(x.dz) <= d);
      const within9 = Math.max(...col.filter((x) => Math.abs(x.dz) === 9).map((x) => x.centre));
      if (within9 >= p.value + 100) return { ...p, within6: Math.max(...within(6).map((x) => x.hi)), within9 };
    }
  }
  throw new Error('no disc between vertebrae in slices 100–200');
}

/** A flat voxel of a vertebral body whose slab of ±9 mm reaches a disc (100 HU darker or more). */
async function bonePoint() {
  for (const k of middleOut()) {
    const flat = (await flatVoxels(vol, k, { flat: 24, step: 2 })).filter((p) => p.value > 150 && p.value < 500).sort((a, b) => b.value - a.value);
    for (const p of flat.slice(0, 20)) {
      const col = await column(vol, k, p.row, p.col, 11);
      const low = Math.min(...col.filter((x) => Math.abs(x.dz) <= 9).map((x) => x.centre));
      if (low < p.value - 100) return { ...p, lowest: Math.min(...col.map((x) => x.lo)) };
    }
  }
  throw new Error('no vertebral body next to a disc in slices 100–200');
}

test('moving the crosshair in one plane moves the slices of the other two; rotating it makes them oblique', async () => {
  await preset('1', 40, 400);
  const centre = vol.world(150, vol.rows / 2, vol.cols / 2);
  const before = await crosshairAt(centre);
  const box = await (await page.$('[data-mpr=axial] canvas')).boundingBox();
  const [cx, cy] = await page.evaluate((w) => window.yunying.reader.mpr.canvasPoint('axial', w), centre);
  // A click off the reference lines jumps there.
  const target = [cx + 60, cy + 45];
  const world = await page.evaluate(([x, y]) => window.yunying.reader.mpr.viewport('axial').canvasToWorld([x, y]), target);
  await page.mouse.click(box.x + target[0], box.y + target[1]);
  let s = await renderedSince(before, 'the planes after a click');
  // Planes stop at slice centres: within half a voxel of the click.
  const half = vol.instances[0].spacing[0] / 2 + 0.01;
  assert.ok(Math.abs(s.planes.sagittal.focalPoint[0] - world[0]) < half, `sagittal at x ${s.planes.sagittal.focalPoint[0]}, clicked ${world[0]}`);
  assert.ok(Math.abs(s.planes.coronal.focalPoint[1] - world[1]) < half, `coronal at y ${s.planes.coronal.focalPoint[1]}, clicked ${world[1]}`);
  assert.notEqual(s.planes.sagittal.slice, before.planes.sagittal.slice);
  assert.notEqual(s.planes.coronal.slice, before.planes.coronal.slice);
  assert.equal(s.planes.axial.slice, before.planes.axial.slice);
  assert.ok(Math.abs(s.crosshair[2] - centre[2]) < 0.01 && Math.abs(s.crosshair[0] - world[0]) < half && Math.abs(s.crosshair[1] - world[1]) < half, `crosshair ${s.crosshair}`);

  // The wheel over the sagittal plane moves it (and the crosshair) along x, not the others.
  const sagittal = await (await page.$('[data-mpr=sagittal] canvas')).boundingBox();
  await page.mouse.move(sagittal.x + sagittal.width / 2, sagittal.y + sagittal.height / 4);
  const wheeled = s;
  await page.mouse.wheel(0, 120);
  s = await until(page, (x) => { const s = window.yunying.reader.mpr.state(); return Math.abs(s.planes.sagittal.focalPoint[0] - x) > 0.5 && s; }, wheeled.planes.sagittal.focalPoint[0], { what: 'sagittal scrolled' });
  s = await settled();
  assert.ok(Math.abs(s.crosshair[0] - s.planes.sagittal.focalPoint[0]) < 0.01, 'the crosshair follows the sagittal plane');
  assert.equal(s.planes.axial.slice, wheeled.planes.axial.slice);
  assert.equal(s.planes.coronal.slice, wheeled.planes.coronal.slice);

  // Rotate: drag the sagittal line's upper handle (half-way between the centre gap and the edge) 30° about the centre.
  const point = await settled();
  const [px, py] = await page.evaluate((w) => window.yunying.reader.mpr.canvasPoint('axial', w), point.crosshair);
  const radius = (py - 20) / 2 + 20;
  await page.mouse.move(box.x + px, box.y + py - radius + 4);
  await page.mouse.move(box.x + px, box.y + py - radius);
  await page.mouse.down();
  for (let a = 2; a <= 30; a += 2) {
    const t = (a * Math.PI) / 180;
    await page.mouse.move(box.x + px + radius * Math.sin(t), box.y + py - radius * Math.cos(t));
  }
  await page.mouse.up();
  s = await renderedSince(point, 'the other planes after rotating', ['sagittal', 'coronal']);
  assert.deepEqual(s.planes.axial.normal.map(Math.abs), [0, 0, 1], 'the axial plane stays');
  for (const plane of ['sagittal', 'coronal']) {
    const { normal } = s.planes[plane];
    const turned = degrees(normal, point.planes[plane].normal);
    assert.ok(turned > 20 && turned < 40, `${plane} turned ${turned.toFixed(1)}°`);
    assert.ok(Math.abs(normal[2]) < 1e-3, `${plane} stays vertical`);
    assert.equal(s.planes[plane].slice, undefined, 'an oblique plane has no slice number');
  }
  assert.ok(Math.hypot(...sub(s.crosshair, point.crosshair)) < 0.5, 'the crosshair stays');
  // The oblique planes still meet at the crosshair.
  for (const plane of PLANES) assert.ok(Math.abs(dot(sub(s.crosshair, s.planes[plane].focalPoint), s.planes[plane].normal)) < 0.05, plane);
  const reset = await mpr();
  await page.keyboard.press('r');
  s = await renderedSince(reset, 'the planes after reset');
  assert.deepEqual(s.planes.sagittal.normal.map(Math.abs), [1, 0, 0]);
  assert.deepEqual(s.planes.coronal.normal.map(Math.abs), [0, 1, 0]);
});

test('the 3D view renders the volume with Cornerstone\'s presets', async () => {
  // Without a GPU a 3D frame takes seconds, the page busy all along: the
  // controls are used from inside the page, not waited on like a user's click.
  const click = (selector) => page.evaluate((s) => document.querySelector(s).click(), selector);
  const choose = (selector, value) => page.evaluate(([s, v]) => {
    const select = document.querySelector(s);
    select.value = v;
    select.dispatchEvent(new Event('change'));
  }, [selector, value]);
  await click('[data-testid=mpr-3d]');
  await until(page, () => window.yunying.reader.mpr.state().volume3d?.renders > 0, null, { what: '3D rendered', timeout: 180000 });
  const picture = () => page.evaluate(() => {
    const canvas = document.querySelector('[data-mpr=volume] canvas');
    const d = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) {
      if ((d[i] + d[i + 1] + d[i + 2]) / 3 > 20) lit++;
    }
    return { lit: lit / (d.length / 4), grey: Array.from({ length: d.length / 4 }, (_, i) => Math.round((d[4 * i] + d[4 * i + 1] + d[4 * i + 2]) / 3)) };
  });
  const bone = await picture();
  assert.equal((await mpr()).volume3d.preset, 'CT-Bone');
  assert.ok(bone.lit > 0.02, `CT-Bone shows ${(bone.lit * 100).toFixed(1)}% of the view`);
  await choose('[data-testid=mpr-volume-preset]', 'CT-Soft-Tissue');
  await until(page, () => { const v = window.yunying.reader.mpr.state().volume3d; return v.preset === 'CT-Soft-Tissue' && v.renders > 0; }, null, { what: '3D soft tissue', timeout: 180000 });
  const soft = await picture();
  assert.equal((await mpr()).volume3d.preset, 'CT-Soft-Tissue');
  assert.ok(soft.lit > 0.02, `CT-Soft-Tissue shows ${(soft.lit * 100).toFixed(1)}% of the view`);
  // Another transfer function: another picture (skin opaque in one, bones through it in the other).
  const difference = soft.grey.reduce((sum, g, i) => sum + Math.abs(g - bone.grey[i]), 0) / soft.grey.length;
  assert.ok(difference > 10, `soft tissue and bone differ by ${difference.toFixed(1)} grey levels a pixel`);
  await click('[data-testid=mpr-3d]');
  await until(page, () => !window.yunying.reader.mpr.state().volume3d, null, { what: '3D hidden', timeout: 180000 });
});

test('back to the stack: as it was, and displayed right', async () => {
  await page.keyboard.press('m');
  await until(page, () => !window.yunying.reader.mpr.state().active && !document.querySelector('[data-testid=mpr-view]'), null, { what: 'MPR closed' });
  const stack = await page.evaluate(() => window.yunying.reader.panels[0].state());
  assert.equal(stack.index, START);
  const values = await vol.slice(START);
  const stored = values.map((x) => x + 1024);
  await assertDisplays(page, 0, stored, { rows: vol.rows, cols: vol.cols, intercept: -1024, center: 40, width: 400 });
  // Back in the stack, the next MPR's engine is made ahead again.
  await until(page, () => window.yunying.reader.mpr.state().spare === 'ready', null, { what: 'the MPR engine made ahead again' });
  // Opening again takes every frame from the cache.
  await page.keyboard.press('m');
  const again = await until(page, () => { const s = window.yunying.reader.mpr.state(); return s.timing.volumeLoaded !== undefined && s; }, null, { what: 'MPR again', timeout: 60000 });
  assert.equal(again.arrived, 300);
  console.log(`MPR from the cache: first paint ${again.timing.firstPaint.toFixed(0)} ms, whole volume ${again.timing.volumeLoaded.toFixed(0)} ms`);
  await page.keyboard.press('Escape');
  await until(page, () => !window.yunying.reader.mpr.state().active, null, { what: 'closed by Escape' });
});

test('an Enhanced CT (one multi-frame instance) opens in MPR, its frames the slices', { skip: !ENHANCED && 'VIEWER_ENHANCED_ID not set' }, async () => {
  const [s] = await qido(DICOMWEB, '/studies', { PatientID: ENHANCED });
  const uid = v(s, '0020000D');
  const [series] = await qido(DICOMWEB, `/studies/${uid}/series`);
  const seriesUid = v(series, '0020000E');
  // The frames' geometry from the functional groups (WADO-RS metadata).
  const [meta] = await (await fetch(`${DICOMWEB}/studies/${uid}/series/${seriesUid}/metadata`, { headers: { Accept: 'application/dicom+json' } })).json();
  const sop = v(meta, '00080018');
  const frames = Number(v(meta, '00280008'));
  const [rows, cols] = [v(meta, '00280010'), v(meta, '00280011')];
  const shared = meta['52009229'].Value[0];
  const spacing = shared['00289110'].Value[0]['00280030'].Value.map(Number);
  const iop = shared['00209116'].Value[0]['00200037'].Value.map(Number);
  const intercept = Number(shared['00289145'].Value[0]['00281052'].Value[0]);
  const positions = meta['52009230'].Value.map((f) => f['00209113'].Value[0]['00200032'].Value.map(Number));
  assert.equal(positions.length, frames);
  await page.goto(`${BASE}/viewer/?lang=en#/study/${uid}`);
  await until(page, () => window.yunying?.reader?.panels[0]?.state().firstImage, null, { what: 'the first frame' });
  await page.keyboard.press('m');
  const full = await until(page, () => { const s = window.yunying.reader.mpr.state(); return s.timing.volumeLoaded !== undefined && s; }, null, { what: 'the multi-frame volume', timeout: 60000 });
  assert.equal(full.frames, frames);
  assert.equal(full.planes.axial.slices, frames);
  // Voxels of a frame a third of the way in: the stored value plus the intercept, at the crosshair and in the axial plane.
  const k = Math.floor(frames / 3);
  const values = await frameValues(DICOMWEB, uid, seriesUid, sop, { frame: k + 1 });
  const world = (row, col) => [0, 1, 2].map((a) => positions[k][a] + col * spacing[1] * iop[a] + row * spacing[0] * iop[3 + a]);
  for (const [row, col] of [[rows / 2, cols / 2], [Math.floor(rows / 3), Math.floor(cols / 4)], [Math.floor(rows * 0.6), Math.floor(cols * 0.7)]]) {
    const w = world(row, col);
    const want = values[row * cols + col] + intercept;
    assert.equal(await page.evaluate((w) => window.yunying.reader.mpr.sample(w), w), want, `voxel (${row}, ${col}) of frame ${k + 1}`);
  }
  const at = world(rows / 2, cols / 2);
  const moved = await crosshairAt(at);
  assert.ok(Math.abs(moved.planes.axial.focalPoint[2] - positions[k][2]) < 0.01, `the axial plane at frame ${k + 1}'s z ${positions[k][2]}: ${moved.planes.axial.focalPoint[2]}`);
  const grey = await shown('axial', at);
  const want = windowed(values[(rows / 2) * cols + cols / 2] + intercept, moved.planes.axial.voi.center, moved.planes.axial.voi.width);
  assert.ok(Math.abs(grey - want) <= 8, `the axial plane shows ${grey} at the crosshair, the frame ${want}`);
  await page.keyboard.press('Escape');
  await until(page, () => !window.yunying.reader.mpr.state().active, null, { what: 'closed' });
});

test('a series too short to reformat is refused with a note', { skip: !FEW && 'VIEWER_FEW_ID not set' }, async () => {
  const studies = await qido(DICOMWEB, '/studies', { PatientID: FEW });
  await page.goto(`${BASE}/viewer/?lang=en#/study/${v(studies[0], '0020000D')}`);
  await until(page, () => window.yunying?.reader?.panels[0]?.state().firstImage, null, { what: 'first image of the short series' });
  await page.keyboard.press('m');
  const text = await until(page, () => document.querySelector('[data-testid=mpr-note]')?.textContent, null, { what: 'a note' });
  assert.match(text, /Too few slices/);
  const s = await mpr();
  assert.equal(s.active, false);
  assert.equal(s.problem, 'slices');
  // Nothing made ahead for a series the MPR cannot show (the previous study's engine went with its reader).
  assert.equal(s.spare, 'none');
});
