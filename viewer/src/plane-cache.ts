// A frame's image plane (position, orientation, spacing) kept once read.
// Cornerstone asks for it many times a render: in a volume viewport, every
// annotation drawn (the MPR's crosshairs among them) finds the image nearest
// the plane by reading the plane of each of the volume's frames, and the
// DICOMweb loader's provider parses it again from the DICOM JSON each time
// (for a 300-slice CT some two thousand parses a scroll step, a tenth of the
// step's time without a GPU). A frame's geometry does not change once its
// metadata is in: the first complete answer is kept.

import { metaData } from '@cornerstonejs/core';

const TYPE = 'imagePlaneModule';
/** Planes kept at most; all are forgotten at once past it (a few hundred bytes each). */
const MAX_PLANES = 20_000;
/** Ahead of the loaders' providers (priority 0) and Cornerstone's own. */
const PRIORITY = 10_000;

const planes = new Map<string, object>();
let asking = false;

interface Plane {
  imagePositionPatient?: unknown;
  rowCosines?: unknown;
  columnCosines?: unknown;
}

function provider(type: string, imageId: unknown): object | undefined {
  if (type !== TYPE || asking || typeof imageId !== 'string') return undefined;
  const kept = planes.get(imageId);
  if (kept) return kept;
  asking = true;
  let plane: Plane | undefined;
  try {
    plane = metaData.get(TYPE, imageId) as Plane | undefined;
  } finally {
    asking = false;
  }
  // A plane asked for before its metadata arrived is not kept.
  if (plane && plane.imagePositionPatient && plane.rowCosines && plane.columnCosines) {
    if (planes.size >= MAX_PLANES) planes.clear();
    planes.set(imageId, plane);
  }
  return plane;
}

/** From now on, a frame's plane is read once. */
export function keepImagePlanes(): void {
  metaData.addProvider(provider as never, PRIORITY);
}

/** How many planes are kept (tests). */
export const keptImagePlanes = (): number => planes.size;
