// A rigid estimate of how a prior lines up with the study along the table,
// by anatomy: each stack's profile of mean intensity along z (one value per
// slice, from the middle of the image), and the shift of one against the
// other that makes them most alike. Pure functions, no imports (unit-tested
// in viewer/tests/hanging-unit.test.mjs).

export interface ProfilePoint {
  z: number;
  v: number;
}

/** Sorted by z, mean 0 and deviation 1; undefined when flat. */
function standardised(points: ProfilePoint[]): ProfilePoint[] | undefined {
  const sorted = [...points].sort((a, b) => a.z - b.z);
  const mean = sorted.reduce((s, p) => s + p.v, 0) / sorted.length;
  const sd = Math.sqrt(sorted.reduce((s, p) => s + (p.v - mean) ** 2, 0) / sorted.length);
  if (!(sd > 1e-6)) return undefined;
  return sorted.map((p) => ({ z: p.z, v: (p.v - mean) / sd }));
}

/** `b`'s value at `z` by linear interpolation (b sorted by z), or undefined outside it. */
function at(b: ProfilePoint[], z: number): number | undefined {
  if (z < b[0].z || z > b[b.length - 1].z) return undefined;
  let lo = 0;
  let hi = b.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (b[mid].z <= z) lo = mid;
    else hi = mid;
  }
  const span = b[hi].z - b[lo].z;
  return span ? b[lo].v + ((b[hi].v - b[lo].v) * (z - b[lo].z)) / span : b[lo].v;
}

/**
 * The shift `d` (mm) for which `b` at `z + d` looks most like `a` at `z`,
 * searched over ±`range` mm in steps of the finer slice spacing, where the
 * stacks overlap over at least half the shorter one; undefined when the
 * profiles are too short or flat to tell.
 */
export function bestShift(a: ProfilePoint[], b: ProfilePoint[], range = 100): number | undefined {
  if (a.length < 8 || b.length < 8) return undefined;
  const sa = standardised(a);
  const sb = standardised(b);
  if (!sa || !sb) return undefined;
  const spacing = (s: ProfilePoint[]) => (s[s.length - 1].z - s[0].z) / (s.length - 1);
  const step = Math.min(spacing(sa), spacing(sb));
  if (!(step > 0)) return undefined;
  const need = Math.max(8, Math.floor(Math.min(sa.length, sb.length) / 2));
  let best: { d: number; score: number } | undefined;
  for (let d = -range; d <= range + 1e-9; d += step) {
    let sum = 0;
    let n = 0;
    for (const p of sa) {
      const q = at(sb, p.z + d);
      if (q === undefined) continue;
      sum += (p.v - q) ** 2;
      n++;
    }
    if (n < need) continue;
    const score = sum / n;
    if (!best || score < best.score - 1e-12) best = { d, score };
  }
  return best && best.score < 1 ? Math.round(best.d * 100) / 100 : undefined;
}
