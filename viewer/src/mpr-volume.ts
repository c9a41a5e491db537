// The volume behind multi-planar reconstruction (mpr.ts): Cornerstone's
// streaming image volume over a series' `wadors:` image ids, registered as a
// volume loader of its own (`yunying:` volume ids) so that its frames come
// through the frame workers (frames/loader.ts) like the stack's: fetched and
// decoded in a worker, nearest the plane shown first, re-ordered as the
// crosshair moves. The volume holds no pixels of its own: its slices are the
// images in Cornerstone's cache, so frames the stack viewer already loaded
// are not fetched again, and the stack's own prefetch and the volume's share
// every request.

import { StreamingImageVolume, Types, cache, metaData, utilities, volumeLoader } from '@cornerstonejs/core';
import { reprioritiseFrames } from './frames/loader';
import type { Series } from './study';

/** Volume ids `yunying:<series>:<n>` load through `loadVolume` below. */
const VOLUME_SCHEME = 'yunying';

/** Fewer slices than this make no useful reformat. */
const MIN_SLICES = 10;

/** Modalities reformatted: cross-sectional acquisitions. */
const VOLUMETRIC_MODALITIES = new Set(['CT', 'MR', 'PT']);

/** Why `series` cannot be shown as a volume, or undefined when it can (its metadata loaded). */
export function volumeProblem(series: Series): 'modality' | 'slices' | 'geometry' | 'spacing' | 'size' | undefined {
  if (!VOLUMETRIC_MODALITIES.has(series.modality)) return 'modality';
  const ids = series.imageIds;
  if (ids.length < MIN_SLICES) return 'slices';
  const planes = ids.map((id) => metaData.get('imagePlaneModule', id) as Plane | undefined);
  const first = planes[0];
  if (!first || !complete(first)) return 'geometry';
  const same = (a: number[], b: number[], tolerance: number) => a.every((v, k) => Math.abs(v - b[k]) <= tolerance);
  const normal = cross(first.rowCosines, first.columnCosines);
  for (const p of planes) {
    if (!p || !complete(p)) return 'geometry';
    if (p.rows !== first.rows || p.columns !== first.columns) return 'geometry';
    if (!same(p.rowCosines, first.rowCosines, 1e-3) || !same(p.columnCosines, first.columnCosines, 1e-3)) return 'geometry';
    if (Math.abs(p.rowPixelSpacing - first.rowPixelSpacing) > 1e-3 || Math.abs(p.columnPixelSpacing - first.columnPixelSpacing) > 1e-3) return 'geometry';
  }
  // Slices along the normal: none twice, gaps within a tenth of each other.
  const along = planes.map((p) => dot(p!.imagePositionPatient, normal)).sort((a, b) => a - b);
  const gaps = along.slice(1).map((z, k) => z - along[k]);
  const smallest = Math.min(...gaps);
  if (!(smallest > 1e-3) || Math.max(...gaps) > smallest * 1.1) return 'spacing';
  // The volume (at most 4 bytes a voxel) must fit in the image cache, beside
  // the stack's images: a series larger than that keeps only a window of its
  // images (panel.ts) and could never be complete as a volume.
  if (first.rows * first.columns * ids.length * 4 > cache.getMaxCacheSize() * 0.8) return 'size';
  return undefined;
}

interface Plane {
  rows: number;
  columns: number;
  rowCosines: number[];
  columnCosines: number[];
  imagePositionPatient: number[];
  rowPixelSpacing: number;
  columnPixelSpacing: number;
}

function complete(p: Plane): boolean {
  return p.rowCosines?.length === 3 && p.columnCosines?.length === 3 && p.imagePositionPatient?.length === 3
    && p.rowPixelSpacing > 0 && p.columnPixelSpacing > 0 && p.rows > 0 && p.columns > 0;
}

function cross(a: number[], b: number[]): number[] {
  return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
}

function dot(a: number[], b: number[]): number {
  return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}

/** Frames (nearest the plane shown) that arrive, and are drawn, before the others are asked for. */
const FIRST_FRAMES = 48;

/** What a volume reports as its frames arrive. */
export type FrameListener = (index: number, loaded: number, total: number) => void;

/**
 * A streaming image volume whose frames are requested from the frame
 * workers ordered by their distance from `focus` (a slice index of the
 * volume), instead of through Cornerstone's request pool in index order:
 * the frame workers bound the requests in flight themselves, and only what
 * waits in their queue can be re-ordered. Each frame is decoded in a
 * worker with the modality rescale applied, as the volume expects
 * (`preScale`); the texture converts it to the volume's data type if the
 * two differ.
 */
export class MprVolume extends StreamingImageVolume {
  /** The slice frames load outward from. */
  focus = 0;
  /** Frames arrived (from the server or the cache), at most once each. */
  arrived = 0;
  onFrame?: FrameListener;
  /**
   * Cornerstone renders every viewport of the volume each time another 2% of
   * its frames arrived: with WebGL emulated in software that is most of the
   * page's time while it streams. The MPR renders at its own pace instead.
   */
  protected autoRenderOnLoad = false;
  private seen?: Uint8Array;

  loadImages(): Promise<boolean> {
    this.loadStatus.loading = true;
    this.seen = new Uint8Array(this.imageIds.length);
    const requests = this.getImageLoadRequests(0).filter(Boolean);
    const order = requests
      .map((request) => ({ request, distance: Math.abs(request.imageIdIndex - this.focus) }))
      .sort((a, b) => a.distance - b.distance);
    const load = (list: typeof order) => list.map(({ request, distance }) => {
      // No target buffer: the frame workers decode the frame (frames/loader.ts
      // sends requests with one to Cornerstone's own decoder on the page).
      const { targetBuffer: _, ...options } = request.options;
      return this.callLoadImage(request.imageId, request.imageIdIndex, { ...options, priority: distance }) as Promise<unknown>;
    });
    // The next render sends every frame that arrived to the GPU (some 5 ms a
    // 512² frame with SwiftShader): the slices around the plane first, drawn,
    // then the rest (the first paint of a 300-slice 512² CT while it streams:
    // about 0.7 s instead of 1.0). Cornerstone's texture still sends every
    // frame already in the image cache at its first render.
    const first = order.slice(0, FIRST_FRAMES);
    void Promise.allSettled(load(first))
      .then(() => new Promise((drawn) => requestAnimationFrame(() => requestAnimationFrame(drawn))))
      .then(() => { if (!this.loadStatus.cancelled) load(order.slice(FIRST_FRAMES)); });
    return Promise.resolve(true);
  }

  successCallback(imageId: string, image: unknown): void {
    super.successCallback(imageId, image);
    const index = this.getImageIdIndex(imageId);
    if (this.loadStatus.cancelled || index === undefined || !this.seen || this.seen[index]) return;
    this.seen[index] = 1;
    this.arrived++;
    this.onFrame?.(index, this.arrived, this.imageIds.length);
  }

  /** Frames still waiting go nearest slice `index` first (the crosshair moved). */
  refocus(index: number): void {
    if (index === this.focus || this.loadStatus.loaded) return;
    this.focus = index;
    reprioritiseFrames((id) => {
      const at = this.getImageIdIndex(id);
      return at === undefined ? undefined : Math.abs(at - index);
    });
  }

  /** The slice index (0 … frames − 1) of a world point. */
  sliceOf(world: Types.Point3): number {
    const k = utilities.transformWorldToIndex(this.imageData, world)[2];
    return Math.max(0, Math.min(this.imageIds.length - 1, k));
  }
}

/** Cornerstone's volume loader for `yunying:` ids: an `MprVolume` over `options.imageIds`, not yet loading. */
function loadVolume(volumeId: string, options: { imageIds: string[] }) {
  const promise = Promise.resolve().then(() => {
    const props = utilities.generateVolumePropsFromImageIds(options.imageIds, volumeId);
    const { imageIds } = props;
    return new MprVolume(
      { ...props, imageIds } as unknown as Types.ImageVolumeProps,
      { imageIds, loadStatus: { loaded: false, loading: false, cancelled: false, cachedFrames: [], callbacks: [] } } as unknown as Types.IStreamingVolumeProperties,
    );
  });
  return {
    promise,
    decache: () => void promise.then((volume) => volume.destroy()),
    cancel: () => void promise.then((volume) => volume.cancelLoading()),
  };
}

let registered = false;
let created = 0;

/**
 * The volume of `series` (its frames sorted along the slice normal), in
 * Cornerstone's cache under a new id, loading nothing yet: `load()` starts
 * it, from `focus` (an image id of the series) outward.
 */
export async function createVolume(series: Series, focus: string | undefined): Promise<MprVolume> {
  if (!registered) {
    volumeLoader.registerVolumeLoader(VOLUME_SCHEME, loadVolume as never);
    registered = true;
  }
  const volumeId = `${VOLUME_SCHEME}:${series.uid}:${++created}`;
  const volume = (await volumeLoader.createAndCacheVolume(volumeId, { imageIds: series.imageIds })) as unknown as MprVolume;
  const at = focus === undefined ? undefined : volume.getImageIdIndex(focus);
  volume.focus = at ?? Math.floor(volume.imageIds.length / 2);
  return volume;
}
