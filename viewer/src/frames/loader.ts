// Cornerstone's image loader for `wadors:` image ids, replacing the one the
// DICOM image loader registers: frames are fetched and decoded in the frame
// workers (`pool.ts`) as each arrives, and the page only wraps the decoded
// pixels it is handed (no copy) in a Cornerstone image. Colour images and
// requests into a volume's buffer take Cornerstone's own path after the
// worker has fetched them.

import { Enums, Types, canRenderFloatTextures, imageLoader, metaData, utilities } from '@cornerstonejs/core';
import { createImage, getImageFrame, isColorImage } from '@cornerstonejs/dicom-image-loader';
import type { DecodeSpec } from './protocol';
import { FramePool, FrameResult } from './pool';

/** Headers for a frame request (Accept, credentials), asked for each frame. */
export type FrameHeaders = () => Record<string, string>;

interface LoaderOptions {
  priority?: number;
  requestType?: string;
  targetBuffer?: unknown;
  useRGBA?: boolean;
}

let current: FramePool | undefined;

/**
 * Start the frame workers (one per core, at most `MAX_WORKERS`) and load
 * `wadors:` image ids through them from now on.
 */
export function startFrameWorkers(headers: FrameHeaders): FramePool {
  const pool = new FramePool(navigator.hardwareConcurrency || 2, () => new Worker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'yunying-frames' }));
  registerFrameLoader(pool, headers);
  current = pool;
  return pool;
}

/** Re-order the frames still waiting (see `FramePool.reprioritise`); nothing without workers. */
export function reprioritiseFrames(priority: (imageId: string) => number | undefined): void {
  current?.reprioritise(priority);
}

/** Take back waiting prefetched frames `unwanted` names (see `FramePool.drop`). */
export function dropFrames(unwanted: (imageId: string) => boolean): number {
  return current?.drop(unwanted) ?? 0;
}

/**
 * Load `wadors:` image ids through `pool` from now on. Frames the viewport
 * needs now (`Interaction` requests) go before prefetched ones.
 */
export function registerFrameLoader(pool: FramePool, headers: FrameHeaders): void {
  imageLoader.registerImageLoader('wadors', ((imageId: string, options: LoaderOptions = {}) => ({
    promise: load(pool, headers, imageId, options),
    cancelFn: undefined,
  })) as never);
}

async function load(pool: FramePool, headers: FrameHeaders, imageId: string, options: LoaderOptions): Promise<Types.IImage> {
  const url = imageId.slice('wadors:'.length);
  const imageFrame = getImageFrame(imageId) as unknown as Record<string, unknown>;
  const inWorker = !isColorImage(String(imageFrame.photometricInterpretation)) && !options.targetBuffer;
  const urgent = options.requestType === Enums.RequestType.Interaction;
  const spec = inWorker ? decodeSpec(imageId, imageFrame) : undefined;
  const result = await pool.run(imageId, url, headers(), spec, urgent, options.priority ?? 0);
  if (result.imageFrame) return wrap(imageId, result);
  const image = (await createImage(imageId, result.pixelData!, result.transferSyntax, options as never)) as Types.IImage & { transferSyntaxUID?: string };
  image.transferSyntaxUID = result.transferSyntax;
  return image;
}

/** The decoder's options as Cornerstone's `createImage` sets them: modality rescale applied in the worker. */
function decodeSpec(imageId: string, imageFrame: Record<string, unknown>): DecodeSpec {
  const scaling = scalingParameters(imageId);
  const frame: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(imageFrame)) if (typeof v !== 'function' && !(v instanceof Promise)) frame[k] = v;
  return {
    imageFrame: frame,
    options: { preScale: scaling ? { enabled: true, scalingParameters: scaling } : { enabled: false }, allowFloatRendering: canRenderFloatTextures() },
  };
}

/** Cornerstone's `getScalingParameters` (not exported): slope and intercept, SUV for PET, dose grid scaling. */
function scalingParameters(imageId: string): Record<string, unknown> | undefined {
  const lut = metaData.get('modalityLutModule', imageId) ?? {};
  const modality = (metaData.get('generalSeriesModule', imageId) ?? {}).modality;
  const scaling = metaData.get('scalingModule', imageId) ?? {};
  const slope = lut.rescaleSlope ?? 1;
  const intercept = lut.rescaleIntercept ?? 0;
  const pt = modality === 'PT' && typeof scaling.suvbw === 'number' && !Number.isNaN(scaling.suvbw);
  const dose = modality === 'RTDOSE' && typeof scaling.DoseGridScaling === 'number' && !Number.isNaN(scaling.DoseGridScaling);
  if (slope === 1 && intercept === 0 && !pt && !dose) return undefined;
  return {
    rescaleSlope: slope,
    rescaleIntercept: intercept,
    modality,
    ...(pt ? { suvbw: scaling.suvbw } : {}),
    ...(dose ? { doseGridScaling: scaling.DoseGridScaling, doseSummation: scaling.DoseSummation, doseType: scaling.DoseType, doseUnit: scaling.DoseUnit } : {}),
  };
}

/** A grey-scale Cornerstone image around pixels decoded in a worker (what `createImage` builds for one). */
function wrap(imageId: string, result: FrameResult): Types.IImage {
  const imageFrame = result.imageFrame! as Record<string, unknown> & {
    pixelData: Types.PixelDataTypedArray;
    rows: number;
    columns: number;
    samplesPerPixel: number;
    photometricInterpretation: string;
    smallestPixelValue: number;
    largestPixelValue: number;
    preScale?: unknown;
    decodeTimeInMS?: number;
  };
  const plane = metaData.get('imagePlaneModule', imageId) ?? {};
  const voi = metaData.get('voiLutModule', imageId) ?? {};
  const lut = metaData.get('modalityLutModule', imageId) ?? {};
  const sop = metaData.get('sopCommonModule', imageId) ?? {};
  const calibration = metaData.get('calibrationModule', imageId) ?? {};
  const pixels = imageFrame.pixelData;
  imageFrame.pixelDataLength = pixels.length;
  const voxelManager = utilities.VoxelManager.createImageVoxelManager({
    scalarData: pixels, width: imageFrame.columns, height: imageFrame.rows, numberOfComponents: imageFrame.samplesPerPixel,
  });
  const image = {
    imageId,
    dataType: pixels.constructor.name,
    color: false,
    calibration,
    columnPixelSpacing: plane.columnPixelSpacing,
    rowPixelSpacing: plane.rowPixelSpacing,
    columns: imageFrame.columns,
    rows: imageFrame.rows,
    width: imageFrame.columns,
    height: imageFrame.rows,
    preScale: imageFrame.preScale,
    intercept: lut.rescaleIntercept ? lut.rescaleIntercept : 0,
    slope: lut.rescaleSlope ? lut.rescaleSlope : 1,
    invert: imageFrame.photometricInterpretation === 'MONOCHROME1',
    minPixelValue: imageFrame.smallestPixelValue,
    maxPixelValue: imageFrame.largestPixelValue,
    sizeInBytes: pixels.byteLength,
    windowCenter: voi.windowCenter ? voi.windowCenter[0] : undefined,
    windowWidth: voi.windowWidth ? voi.windowWidth[0] : undefined,
    voiLUTFunction: (voi.voiLUTFunction?.length && voi.voiLUTFunction[0]) || voi.voiLutFunction || undefined,
    decodeTimeInMS: imageFrame.decodeTimeInMS,
    loadTimeInMS: result.fetchMs + result.decodeMs,
    floatPixelData: undefined,
    imageFrame,
    voxelManager,
    rgba: false,
    getPixelData: () => imageFrame.pixelData,
    getCanvas: undefined,
    numberOfComponents: imageFrame.samplesPerPixel,
    transferSyntaxUID: result.transferSyntax,
    imageQualityStatus: Enums.ImageQualityStatus.FULL_RESOLUTION,
  } as unknown as Types.IImage & { modalityLUT?: unknown; voiLUT?: unknown };
  if (lut.modalityLUTSequence?.length && isModalityLutForDisplay(sop.sopClassUID)) image.modalityLUT = lut.modalityLUTSequence[0];
  if (voi.voiLUTSequence?.length) image.voiLUT = voi.voiLUTSequence[0];
  if (image.windowCenter === undefined || image.windowWidth === undefined) {
    const wl = utilities.windowLevel.toWindowLevel(imageFrame.smallestPixelValue, imageFrame.largestPixelValue);
    image.windowWidth = wl.windowWidth;
    image.windowCenter = wl.windowCenter;
  }
  return image;
}

/** Cornerstone's rule: a Modality LUT is for display except in XA and XRF (their LUT is for other uses). */
function isModalityLutForDisplay(sopClassUid: string | undefined): boolean {
  return sopClassUid !== '1.2.840.10008.5.1.4.1.1.12.1' && sopClassUid !== '1.2.840.10008.5.1.4.1.1.12.2.1';
}
