// Checks what a viewport displays against the stored pixel values put
// through the DICOM LINEAR window, at points whose neighbourhood is flat.
import assert from 'node:assert/strict';
import { decode, grey } from './png.mjs';
import { flatPoints, windowed } from './dicom.mjs';

/**
 * `values`: the frame's stored values (rows × cols), `intercept`/`slope` its
 * rescale. Fails unless ≥ 97% of the sampled pixels are within 8 grey levels.
 */
export async function assertDisplays(page, panelIndex, values, { rows, cols, intercept = 0, slope = 1, center, width }) {
  const points = flatPoints(values, rows, cols, { intercept, slope });
  assert.ok(points.length > 100, `flat regions to sample: ${points.length}`);
  const canvas = await page.$(`[data-panel=vp${panelIndex}] .cs`);
  const box = await canvas.boundingBox();
  const shot = await page.screenshot({ clip: box });
  const png = decode(shot);
  const coords = await page.evaluate(([i, pts]) => pts.map((p) => window.yunying.reader.panels[i].canvasPoint(p.col + 0.5, p.row + 0.5)), [panelIndex, points]);
  let good = 0;
  const misses = [];
  points.forEach((p, k) => {
    const [x, y] = coords[k];
    const expected = windowed(p.hu, center, width);
    const actual = grey(png, x, y);
    if (Math.abs(actual - expected) <= 8) good++;
    else if (misses.length < 5) misses.push({ ...p, x, y, expected, actual });
  });
  if (good / points.length < 0.97 && process.env.VIEWER_SHOTS) {
    const { writeFileSync } = await import('node:fs');
    writeFileSync(`${process.env.VIEWER_SHOTS}/window-${center}-${width}.png`, shot);
  }
  assert.ok(good / points.length >= 0.97, `${good}/${points.length} pixels match window ${center}/${width}; e.g. ${JSON.stringify(misses)}`);
}
