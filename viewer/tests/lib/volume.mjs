// A series as a volume, known independently of the viewer: its geometry
// from WADO-RS metadata, its slices' values from WADO-RS frames, and points
// chosen in it for the MPR test (viewer/tests/mpr.test.mjs).
import { flatPoints, frameValues } from './dicom.mjs';

const num = (j, tag, k = 0) => Number(j[tag]?.Value?.[k]);
const nums = (j, tag) => (j[tag]?.Value ?? []).map(Number);

/**
 * The series' slices from the head end down (highest z first, as the stack
 * shows them), with what it takes to turn a voxel into a world point and
 * stored values into modality values.
 */
export async function seriesVolume(base, study, series) {
  const r = await fetch(`${base}/studies/${study}/series/${series}/metadata`, { headers: { Accept: 'application/dicom+json' } });
  if (!r.ok) throw new Error(`metadata: ${r.status}`);
  const instances = (await r.json()).map((j) => ({
    sop: j['00080018'].Value[0],
    position: nums(j, '00200032'),
    orientation: nums(j, '00200037'),
    spacing: nums(j, '00280030'),
    rows: num(j, '00280010'),
    cols: num(j, '00280011'),
    intercept: num(j, '00281052') || 0,
    slope: num(j, '00281053') || 1,
  })).sort((a, b) => b.position[2] - a.position[2]);
  const first = instances[0];
  const cache = new Map();
  return {
    base, study, series, instances,
    rows: first.rows,
    cols: first.cols,
    /** Modality values (rows × cols) of slice `k`. */
    async slice(k) {
      if (!cache.has(k)) {
        const i = instances[k];
        cache.set(k, (await frameValues(base, study, series, i.sop)).map((s) => s * i.slope + i.intercept));
      }
      return cache.get(k);
    },
    /** World point (mm) of the centre of voxel (k, row, col). */
    world(k, row, col) {
      const { position, orientation: o, spacing } = instances[k];
      return [0, 1, 2].map((a) => position[a] + col * spacing[1] * o[a] + row * spacing[0] * o[3 + a]);
    },
  };
}

/** Value at (row, col) of a slice. */
export const at = (vol, values, row, col) => values[row * vol.cols + col];

/**
 * Points of slice `k` whose 5×5×3 neighbourhood (two voxels around, one slice
 * either side) is flat within `flat`: interpolation and sub-pixel placement
 * leave their displayed value alone. Each `{ k, row, col, value }`.
 */
export async function flatVoxels(vol, k, { flat = 16, step = 4 } = {}) {
  const slices = await Promise.all([k - 1, k, k + 1].map((s) => vol.slice(s)));
  return flatPoints(slices[1], vol.rows, vol.cols, { flat, step })
    .filter(({ row, col, hu }) => {
      // flatPoints checked slice k; the slices either side must stay within `flat` of it as well.
      let lo = hu;
      let hi = hu;
      for (const values of slices) {
        for (let dr = -2; dr <= 2; dr++) {
          for (let dc = -2; dc <= 2; dc++) {
            const v = at(vol, values, row + dr, col + dc);
            lo = Math.min(lo, v);
            hi = Math.max(hi, v);
          }
        }
      }
      return hi - lo <= flat;
    })
    .map(({ row, col, hu }) => ({ k, row, col, value: hu }));
}

/**
 * Along z through (row, col) from slice k − `reach` to k + `reach`: the
 * values in the 3×3 column around it at each slice (min and max), to bound
 * what a slab through k can show there.
 */
export async function column(vol, k, row, col, reach) {
  const out = [];
  for (let s = k - reach; s <= k + reach; s++) {
    const values = await vol.slice(s);
    let lo = Infinity;
    let hi = -Infinity;
    for (let dr = -1; dr <= 1; dr++) {
      for (let dc = -1; dc <= 1; dc++) {
        lo = Math.min(lo, at(vol, values, row + dr, col + dc));
        hi = Math.max(hi, at(vol, values, row + dr, col + dc));
      }
    }
    out.push({ dz: s - k, centre: at(vol, values, row, col), lo, hi });
  }
  return out;
}
