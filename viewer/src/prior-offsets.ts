// Priors that line up. Between studies with different frames of reference
// the viewer scrolls by table position; when the reader lines the anatomy
// up by hand (synchronised scrolling off, one viewport scrolled, on again)
// that offset is remembered for the pair (this browser's localStorage,
// keyed by the two Study Instance UIDs) and used the next time the same
// prior is compared with the same study. A prior a hanging protocol puts up
// without such an offset is lined up by anatomy once loaded (align.ts).

import { cache, metaData } from '@cornerstonejs/core';
import { ProfilePoint, bestShift } from './align';
import type { Panel } from './panel';
import type { Series } from './study';

const KEY = 'yunying.prior-offset';

type Vec = [number, number, number];

function key(current: string, prior: string): string {
  return `${KEY}:${current}:${prior}`;
}

/** The offset (prior position − current position, mm) remembered for the pair. */
export function recallOffset(current: string, prior: string): Vec | undefined {
  try {
    const v = JSON.parse(localStorage.getItem(key(current, prior)) ?? 'null');
    return Array.isArray(v) && v.length === 3 && v.every((x) => typeof x === 'number' && Number.isFinite(x)) ? (v as Vec) : undefined;
  } catch {
    return undefined;
  }
}

export function rememberOffset(current: string, prior: string, offset: number[]): void {
  try {
    localStorage.setItem(key(current, prior), JSON.stringify(offset.slice(0, 3).map((x) => Math.round(x * 100) / 100)));
  } catch {
    // storage full or refused: the table position serves next time
  }
}

const position = (id: string) => metaData.get('imagePlaneModule', id)?.imagePositionPatient as number[] | undefined;

/**
 * The synchronisation offsets were just set from what the viewports show
 * (`Reader.alignSync`): remember those between the study opened and a prior
 * of another frame of reference.
 */
export function rememberShown(currentStudy: string, panels: Panel[]): void {
  const current = panels.find((p) => p.study?.uid === currentStudy);
  const here = current?.state().position;
  if (!current || !here) return;
  const frame = current.viewport?.getFrameOfReferenceUID();
  for (const p of panels) {
    const there = p.state().position;
    if (!p.study || p.study.uid === currentStudy || !there || p.viewport?.getFrameOfReferenceUID() === frame) continue;
    rememberOffset(currentStudy, p.study.uid, [there[0] - here[0], there[1] - here[1], there[2] - here[2]]);
  }
}

/**
 * The image of `series` (a prior's) to start at beside `panel` (showing the
 * study opened): at the remembered offset for the pair, else at the same
 * table position (z), else the same fraction of the stack.
 */
export function startIndex(panel: Panel, series: Series): number {
  const here = panel.state();
  const p = here.position;
  const offset = panel.study ? recallOffset(panel.study.uid, series.study) : undefined;
  const ids = series.imageIds;
  if (!p || ids.some((id) => !position(id))) {
    return Math.round((Math.max(0, here.index) / Math.max(1, here.count - 1)) * (ids.length - 1));
  }
  const distance = (id: string) => {
    const q = position(id)!;
    if (offset) return Math.hypot(q[0] - p[0] - offset[0], q[1] - p[1] - offset[1], q[2] - p[2] - offset[2]);
    return Math.abs(q[2] - p[2]);
  };
  let best = 0;
  ids.forEach((id, k) => {
    if (distance(id) < distance(ids[best])) best = k;
  });
  return best;
}

/**
 * A stack's profile of intensity along z from Cornerstone's cache (the mean
 * of the middle of each image, in modality units); undefined while an image
 * is not loaded.
 */
export function stackProfile(ids: string[]): ProfilePoint[] | undefined {
  const out: ProfilePoint[] = [];
  for (const id of ids) {
    const image = cache.getImage(id);
    const z = position(id)?.[2];
    if (!image || z === undefined) return undefined;
    const px = image.getPixelData();
    const { rows, columns } = image;
    let sum = 0;
    let n = 0;
    for (let r = Math.floor(rows / 4); r < (3 * rows) / 4; r += 2) {
      for (let c = Math.floor(columns / 4); c < (3 * columns) / 4; c += 2) {
        sum += px[r * columns + c];
        n++;
      }
    }
    out.push({ z, v: n ? (sum / n) * (image.slope ?? 1) + (image.intercept ?? 0) : 0 });
  }
  return out;
}

/**
 * Line the viewports showing a prior (`priors`) up with `anchor` (the study
 * opened) by anatomy, once both stacks are loaded: the z shift that makes
 * their intensity profiles most alike (align.ts). Only between frames of
 * reference that differ and for a pair with no offset set by hand. The
 * shift (mm, prior − study), or undefined when none was made.
 */
export async function alignByAnatomy(anchor: Panel, priors: Panel[], still: () => boolean): Promise<number | undefined> {
  const prior = priors[0];
  if (!anchor.study || !prior?.study || !anchor.series || !prior.series) return undefined;
  if (recallOffset(anchor.study.uid, prior.study.uid)) return undefined;
  if (anchor.viewport?.getFrameOfReferenceUID() === prior.viewport?.getFrameOfReferenceUID()) return undefined;
  const [a, b] = [anchor.series, prior.series];
  const deadline = performance.now() + 180000;
  while (still() && performance.now() < deadline && (anchor.loaded < a.imageIds.length || prior.loaded < b.imageIds.length)) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const pa = still() ? stackProfile(a.imageIds) : undefined;
  const pb = pa && stackProfile(b.imageIds);
  const d = pa && pb ? bestShift(pa, pb) : undefined;
  const here = anchor.state().position;
  if (d === undefined || !here || !still()) return undefined;
  await Promise.all(priors.map((p) => {
    const ids = p.viewport?.getImageIds() ?? [];
    let best = 0;
    ids.forEach((id, k) => {
      if (Math.abs((position(id)?.[2] ?? Infinity) - here[2] - d) < Math.abs((position(ids[best])?.[2] ?? Infinity) - here[2] - d)) best = k;
    });
    return ids.length ? p.viewport!.setImageIdIndex(best) : undefined;
  }));
  return d;
}
