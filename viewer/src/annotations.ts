// Measurements and annotations that persist as DICOM (issue 29): "Save
// annotations" (Ctrl+S) posts the Cornerstone annotations (length, angle,
// rectangle and ellipse ROIs with their statistics, arrows with their
// text), the window shown and the key images marked (annotations-keys.ts)
// to `/api/studies/{uid}/annotations`, which stores a TID 1500 SR, a
// presentation state and a key object document in the study; opening a
// study loads the newest set back: annotations into Cornerstone's state on
// their images, the saved windows and the key image marks.

import { metaData, utilities as csUtils } from '@cornerstonejs/core';
import type { Types as CoreTypes } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import { api } from './api';
import { ShownImages, imageOf } from './annotations-keys';
import type { Display, Image } from './annotations-keys';
import { h } from './dom';
import { t } from './i18n';
import { loadSeries } from './study';
import type { Reader } from './viewer';

type Tool = 'length' | 'angle' | 'rectangle' | 'ellipse' | 'arrow' | 'text' | 'polygon' | 'polyline';

interface Values {
  length_mm?: number;
  angle_deg?: number;
  area_mm2?: number;
  mean?: number;
  std_dev?: number;
  min?: number;
  max?: number;
  intensity_unit?: string;
}

interface Saved {
  tool: Tool;
  image: Image;
  points: [number, number][];
  label?: string;
  values?: Values;
  tracking_uid?: string;
}

interface Loaded {
  sop_instance_uid: string | null;
  author_name: string;
  annotations: Saved[];
  displays: Display[];
  key_images?: Image[];
}

/** Cornerstone tool name ↔ the saved kind. */
const KINDS: Record<string, Tool> = {
  Length: 'length',
  Angle: 'angle',
  RectangleROI: 'rectangle',
  EllipticalROI: 'ellipse',
  ArrowAnnotate: 'arrow',
};
const TOOL_NAMES: Partial<Record<Tool, string>> = Object.fromEntries(Object.entries(KINDS).map(([k, v]) => [v, k]));

const finite = (x: unknown): number | undefined => (typeof x === 'number' && Number.isFinite(x) ? x : undefined);

/** The values of a tool's statistics, in the units the server takes (mm, deg, mm², HU). */
function valuesOf(kind: Tool, stats: Record<string, unknown>): Values {
  const v: Values = {};
  if (kind === 'length' && stats.unit === 'mm') v.length_mm = finite(stats.length);
  if (kind === 'angle') v.angle_deg = finite(stats.angle);
  if (kind === 'rectangle' || kind === 'ellipse') {
    if (stats.areaUnit === 'mm²' || stats.areaUnit === 'mm2') v.area_mm2 = finite(stats.area);
    v.mean = finite(stats.mean);
    v.std_dev = finite(stats.stdDev);
    v.min = finite(stats.min);
    v.max = finite(stats.max);
    v.intensity_unit = stats.modalityUnit === 'HU' ? 'HU' : '';
  }
  return v;
}

/** Cornerstone keeps a rectangle's corners as TL, TR, BL, BR; DICOM a path around it. */
const swapLastTwo = <T>(p: T[]): T[] => (p.length === 4 ? [p[0], p[1], p[3], p[2]] : p);

/** An ellipse's ends of its axes in Cornerstone's order: bottom, top (the vertical axis), left, right. */
function ellipseOrder(p: [number, number][]): [number, number][] {
  if (p.length !== 4) return p;
  let [a, b] = [p.slice(0, 2), p.slice(2, 4)];
  if (Math.abs(a[0][1] - a[1][1]) < Math.abs(b[0][1] - b[1][1])) [a, b] = [b, a];
  a.sort((x, y) => x[1] - y[1]);
  b.sort((x, y) => x[0] - y[0]);
  return [...a, ...b];
}

export class Annotations {
  /** The last thing said to the user (tests read it). */
  status = '';
  /** The set last loaded. */
  loaded?: Loaded;
  private message = h('span', { class: 'annotations-status', 'data-testid': 'annotations-status' });
  /** Key images marked and saved windows applied. */
  readonly shown: ShownImages;

  constructor(private reader: Reader) {
    this.shown = new ShownImages(reader);
  }

  button(): HTMLElement {
    this.shown.hook();
    this.shown.refresh();
    return h('span', { class: 'group' },
      this.shown.keyButton,
      h('button', { 'data-testid': 'save-annotations', title: 'Ctrl+S', onclick: () => void this.save() }, t('saveAnnotations')),
      this.message);
  }

  /** Mark or unmark the image shown in the active viewport as a key image. */
  toggleKey(): void {
    this.shown.toggleKey();
  }

  private say(text: string): void {
    this.status = text;
    this.message.textContent = text;
  }

  /** What would be saved now. */
  collect(): { annotations: Saved[]; displays: Display[]; key_images: Image[] } {
    const study = this.reader.study.uid;
    const annotations: Saved[] = [];
    for (const a of tools.annotation.state.getAllAnnotations()) {
      const kind = KINDS[a.metadata?.toolName ?? ''];
      const imageId = a.metadata?.referencedImageId;
      const image = imageId ? imageOf(imageId) : undefined;
      if (!kind || !imageId || !image || image.study !== study) continue;
      const world = (a.data.handles?.points ?? []) as CoreTypes.Point3[];
      let points = world.map((p) => csUtils.worldToImageCoords(imageId, p)).filter((p): p is CoreTypes.Point2 => !!p).map((p) => [p[0], p[1]] as [number, number]);
      if (points.length !== world.length || !points.length) continue;
      if (kind === 'rectangle') points = swapLastTwo(points);
      // Cornerstone draws the head at the first point (arrowFirst); the server has tail, head.
      if (kind === 'arrow' && (a.data.handles as { arrowFirst?: boolean } | undefined)?.arrowFirst !== false) points.reverse();
      const stats = Object.values((a.data as { cachedStats?: Record<string, Record<string, unknown>> }).cachedStats ?? {})[0] ?? {};
      const { study: _, ...ref } = image;
      annotations.push({ tool: kind, image: ref, points, label: (a.data as { label?: string }).label ?? (a.data as { text?: string }).text ?? '', values: valuesOf(kind, stats) });
    }
    const displays: Loaded['displays'] = [];
    for (const panel of this.reader.shownPanels()) {
      const viewport = panel.viewport!;
      const imageId = viewport.getCurrentImageId();
      const image = imageId ? imageOf(imageId) : undefined;
      const voi = viewport.getProperties().voiRange;
      if (!image || image.study !== study || !voi) continue;
      const { study: _, ...ref } = image;
      // DICOM's window is Cornerstone's (C − 0.5 ± (W − 1)/2).
      const { windowCenter, windowWidth } = csUtils.windowLevel.toWindowLevel(voi.lower, voi.upper);
      displays.push({ image: ref, window_center: windowCenter, window_width: Math.max(1, windowWidth) });
    }
    return { annotations, displays, key_images: this.shown.keyImages() };
  }

  async save(): Promise<void> {
    const body = this.collect();
    if (!body.annotations.length && !body.key_images.length) {
      this.say(t('annotationsNone'));
      return;
    }
    try {
      const saved = await api<{ annotations: number; key_images: number }>('POST', `/api/studies/${encodeURIComponent(this.reader.study.uid)}/annotations`, body);
      this.say(t('annotationsSaved', { n: saved.annotations }) + (saved.key_images ? t('keyImagesSaved', { n: saved.key_images }) : ''));
    } catch (e) {
      this.say(t('annotationsFailed', { error: e instanceof Error ? e.message : String(e) }));
    }
  }

  /** The newest saved set of the open study, added to Cornerstone's annotations. */
  async load(): Promise<void> {
    const study = this.reader.study;
    let set: Loaded;
    try {
      set = await api<Loaded>('GET', `/api/studies/${encodeURIComponent(study.uid)}/annotations`);
    } catch {
      return; // Saving is Yunying's addition: another DICOMweb server has no such API.
    }
    this.loaded = set;
    this.shown.setWindows(set.displays ?? []);
    this.shown.setKeys(set.key_images ?? []);
    let added = 0;
    for (const s of set.annotations) {
      const toolName = TOOL_NAMES[s.tool];
      const series = study.series.find((x) => x.uid === s.image.series_instance_uid);
      if (!toolName || !series) continue;
      await loadSeries(this.reader.web, series);
      const suffix = `/instances/${s.image.sop_instance_uid}/frames/${s.image.frame ?? 1}`;
      const imageId = series.imageIds.find((id) => id.endsWith(suffix));
      const plane = imageId ? metaData.get('imagePlaneModule', imageId) : undefined;
      if (!imageId || !plane) continue;
      let points = s.points;
      if (s.tool === 'rectangle') points = swapLastTwo(points);
      if (s.tool === 'ellipse') points = ellipseOrder(points);
      if (s.tool === 'arrow') points = [...points].reverse();
      const world = points.map((p) => csUtils.imageToWorldCoords(imageId, [p[0], p[1]] as CoreTypes.Point2) as CoreTypes.Point3);
      const row = plane.rowCosines as number[];
      const col = plane.columnCosines as number[];
      const normal = [row[1] * col[2] - row[2] * col[1], row[2] * col[0] - row[0] * col[2], row[0] * col[1] - row[1] * col[0]];
      const annotation = {
        annotationUID: csUtils.uuidv4(),
        highlighted: false,
        invalidated: true,
        isLocked: false,
        isVisible: true,
        metadata: {
          toolName,
          referencedImageId: imageId,
          FrameOfReferenceUID: plane.frameOfReferenceUID,
          viewPlaneNormal: normal,
          viewUp: col.map((x) => -x),
        },
        data: {
          label: s.label ?? '',
          handles: {
            ...(s.tool === 'arrow' ? { arrowFirst: true } : {}),
            points: world,
            activeHandleIndex: null,
            textBox: { hasMoved: false, worldPosition: [0, 0, 0], worldBoundingBox: { topLeft: [0, 0, 0], topRight: [0, 0, 0], bottomLeft: [0, 0, 0], bottomRight: [0, 0, 0] } },
          },
          cachedStats: {},
        },
      };
      tools.annotation.state.addAnnotation(annotation as never, this.reader.active.element);
      added++;
    }
    if (added) {
      this.reader.engine.render();
      this.say(t('annotationsLoaded', { n: added, author: set.author_name }));
    }
  }
}
