// One viewport of the reading view: a Cornerstone3D stack viewport with its
// overlay and preview layer, progressive loading (stored preview → lossless
// frames, nearest the shown slice first, the frame workers re-ordered as
// the user scrolls), presets, scrolling and the state tests read.

import { Enums as CoreEnums, Types as CoreTypes, cache, imageLoader, metaData, utilities as coreUtils } from '@cornerstonejs/core';
import { T, formatDate, num, personName, str } from './dicomweb';
import { h } from './dom';
import { dropFrames, reprioritiseFrames } from './frames/loader';
import { Series, Study, loadSeries } from './study';
import type { Reader } from './viewer';

/** Window presets (centre, width) in modality units. */
export const PRESETS: Record<string, [number, number]> = {
  soft: [40, 400],
  lung: [-600, 1500],
  bone: [300, 1500],
  brain: [40, 80],
};

/** One viewport of the grid, with its overlay and preview layer. */
export class Panel {
  readonly element: HTMLDivElement;
  readonly preview = h('img', { class: 'preview', alt: '' });
  readonly overlay = {
    tl: h('div', { class: 'ov tl' }),
    tr: h('div', { class: 'ov tr' }),
    bl: h('div', { class: 'ov bl' }),
    br: h('div', { class: 'ov br' }),
  };
  readonly root: HTMLDivElement;
  study?: Study;
  series?: Series;
  defaultVoi?: CoreTypes.VOIRange;
  loaded = 0;
  /** The stack is set: scrolling goes to Cornerstone (before that it is queued). */
  private stackReady = false;
  private pendingScroll = 0;
  /** The slice the last scroll step asked for, until it is shown. */
  private scrollTarget: number | null = null;
  /** The image shown when the viewport was last hidden by a layout change. */
  lastIndex = 0;
  private generation = 0;
  /** Position of each image id of the series shown, for re-ordering the frames still to load. */
  private positions = new Map<string, number>();
  /**
   * How many images of the series are kept loaded around the one shown: all
   * of them when the cache holds them, else a window that moves with the
   * user (see `prefetchWindow`).
   */
  keep = Infinity;
  /** The image the window was last centred on. */
  private windowCentre = 0;

  constructor(readonly id: string, private owner: Reader) {
    this.element = h('div', { class: 'cs', 'data-viewport': id }) as HTMLDivElement;
    this.element.oncontextmenu = (e) => e.preventDefault();
    const activate = () => owner.activate(this);
    this.root = h('div', { class: 'panel', 'data-panel': id, onmousedown: activate, onwheel: activate, ontouchstart: activate },
      this.element, this.preview, this.overlay.tl, this.overlay.tr, this.overlay.bl, this.overlay.br) as HTMLDivElement;
    this.element.addEventListener(CoreEnums.Events.STACK_NEW_IMAGE, () => {
      owner.follow(this);
      this.nearestFirst();
    });
    // Every render may show another slice, window or zoom.
    this.element.addEventListener(CoreEnums.Events.IMAGE_RENDERED, () => {
      this.onRendered();
      this.updateOverlay();
    });
  }

  get viewport(): CoreTypes.IStackViewport | undefined {
    return this.owner.engine.getViewport(this.id) as CoreTypes.IStackViewport | undefined;
  }

  /** Show `series` from `study`, starting at image `index` (default the first). */
  async show(study: Study, series: Series, index = 0): Promise<void> {
    const generation = ++this.generation;
    this.study = study;
    this.series = series;
    this.defaultVoi = undefined;
    this.loaded = 0;
    this.positions = new Map();
    this.stackReady = false;
    this.pendingScroll = 0;
    this.scrollTarget = null;
    await loadSeries(this.owner.web, series);
    if (generation !== this.generation) return;
    const start = Math.min(index, series.imageIds.length - 1);
    this.showPreview(series, start);
    const viewport = this.viewport;
    if (!viewport) return;
    await viewport.setStack(series.imageIds, start);
    if (generation !== this.generation) return;
    this.stackReady = true;
    if (this.pendingScroll) this.scroll(this.pendingScroll);
    this.pendingScroll = 0;
    this.updateOverlay();
    void this.prefetch(series, start, generation);
  }

  /** The stored preview (or rendered frame) paints before the lossless frame arrives. */
  private showPreview(series: Series, index: number): void {
    const at = series.frames[index];
    if (!at) return;
    const url = this.owner.web.renderedFrameUrl(series.study, series.uid, str(at.instance, T.SOPInstanceUID), at.frame);
    this.preview.hidden = false;
    this.owner.web.imageUrl(url).then((blob) => {
      if (this.series !== series || this.defaultVoi) {
        URL.revokeObjectURL(blob);
        return;
      }
      this.preview.onload = () => this.owner.mark(this, 'preview');
      this.preview.src = blob;
    }).catch(() => { this.preview.hidden = true; });
  }

  private onRendered(): void {
    const viewport = this.viewport;
    if (!viewport || !this.series) return;
    // A render before the image has its window (none yet) is not the first image.
    const voi = viewport.getProperties().voiRange;
    if (!this.defaultVoi && voi && viewport.getCurrentImageId()) {
      this.defaultVoi = { ...voi };
      this.preview.hidden = true;
      if (this.preview.src) URL.revokeObjectURL(this.preview.src);
      this.preview.removeAttribute('src');
      this.owner.mark(this, 'first-image');
    }
  }

  /**
   * Load every frame of the series, nearest to the shown one first; a
   * series larger than its share of the cache only a window around the
   * shown image, which follows the user (`nearestFirst`).
   */
  private async prefetch(series: Series, start: number, generation: number): Promise<void> {
    this.positions = new Map(series.imageIds.map((id, i) => [id, i]));
    const shown = this.viewport?.getCornerstoneImage() as { sizeInBytes?: number } | undefined;
    this.keep = prefetchWindow(series, this.owner.panels.filter((p) => p.root.isConnected).length, shown?.sizeInBytes);
    if (this.keep < series.imageIds.length) {
      this.loadWindow(series, start, generation);
      return;
    }
    const order = series.imageIds.map((id, i) => ({ id, d: Math.abs(i - start) })).sort((a, b) => a.d - b.d);
    let done = 0;
    await Promise.all(order.map(({ id, d }) =>
      imageLoader.loadAndCacheImage(id, { priority: d, requestType: CoreEnums.RequestType.Prefetch } as never)
        .catch(() => undefined)
        .then(() => {
          if (generation !== this.generation) return;
          done++;
          this.loaded = done;
          if (done % 10 === 0 || done === order.length) this.updateOverlay();
        })));
    if (generation === this.generation) this.owner.mark(this, 'all-loaded');
  }

  /**
   * Load the `window` images nearest `centre` not yet loaded, and take back
   * those still waiting outside it, so the cache holds the images around
   * the one shown (Cornerstone evicts the least recently used: the far ones).
   */
  private loadWindow(series: Series, centre: number, generation: number): void {
    this.windowCentre = centre;
    const half = Math.floor(this.keep / 2);
    dropFrames((id) => {
      const at = this.positions.get(id);
      return at !== undefined && Math.abs(at - centre) > half;
    });
    const wanted = series.imageIds
      .map((id, i) => ({ id, d: Math.abs(i - centre) }))
      .filter(({ id, d }) => d <= half && !cache.getImageLoadObject(id))
      .sort((a, b) => a.d - b.d);
    for (const { id, d } of wanted) {
      imageLoader.loadAndCacheImage(id, { priority: d, requestType: CoreEnums.RequestType.Prefetch } as never)
        .then(() => {
          if (generation !== this.generation) return;
          this.loaded = series.imageIds.filter((x) => cache.isLoaded(x)).length;
          if (this.loaded % 10 === 0) this.updateOverlay();
        })
        .catch(() => undefined);
    }
  }

  /** The frames still waiting to load: those nearest the slice now shown first. */
  private nearestFirst(): void {
    const index = this.viewport?.getCurrentImageIdIndex();
    if (index === undefined || !this.positions.size) return;
    if (this.series && this.keep < this.series.imageIds.length && Math.abs(index - this.windowCentre) > this.keep / 4) {
      this.loadWindow(this.series, index, this.generation);
    }
    reprioritiseFrames((id) => {
      const at = this.positions.get(id);
      return at === undefined ? undefined : Math.abs(at - index);
    });
  }

  state(): PanelState {
    const viewport = this.viewport;
    const imageId = viewport?.getCurrentImageId();
    const voi = viewport?.getProperties().voiRange;
    const ww = voi ? coreUtils.windowLevel.toWindowLevel(voi.lower, voi.upper) : undefined;
    return {
      series: this.series?.uid,
      index: viewport?.getCurrentImageIdIndex() ?? -1,
      count: this.series?.imageIds.length ?? 0,
      loaded: this.loaded,
      voi: ww ? { center: ww.windowCenter, width: ww.windowWidth } : undefined,
      invert: !!viewport?.getProperties().invert,
      position: imageId ? metaData.get('imagePlaneModule', imageId)?.imagePositionPatient : undefined,
      firstImage: this.defaultVoi !== undefined && this.stackReady,
      transferSyntax: (viewport?.getCornerstoneImage() as { transferSyntaxUID?: string } | undefined)?.transferSyntaxUID,
      shown: !!imageId && viewport?.getCornerstoneImage()?.imageId === imageId,
      keep: Number.isFinite(this.keep) ? this.keep : null,
    };
  }

  /**
   * Scroll by `delta` images. Cornerstone's own scroll counts from the
   * slice it is heading to (so fast key repeats add up) and waits briefly
   * before loading a slice not yet in the cache (so only the last of a burst
   * loads and an older one cannot arrive after it). Until the stack is set,
   * scrolls are added up and applied once it is, so none is lost.
   */
  /**
   * Step through the stack. Steps add up from the last one asked for, not
   * from the slice shown: a key pressed while the previous step's image is
   * still being set would otherwise be lost (Cornerstone's own `scroll`
   * starts from the current index and debounces).
   */
  scroll(delta: number): void {
    const viewport = this.viewport;
    if (!this.stackReady || !viewport) {
      this.pendingScroll += delta;
      return;
    }
    const last = viewport.getImageIds().length - 1;
    const to = Math.max(0, Math.min(last, (this.scrollTarget ?? viewport.getCurrentImageIdIndex()) + delta));
    this.scrollTarget = to;
    void viewport.setImageIdIndex(to).finally(() => {
      if (this.scrollTarget === to) this.scrollTarget = null;
    });
  }

  /** Canvas coordinates (CSS pixels) of an image point (column, row; pixel centres at +0.5). */
  canvasPoint(column: number, row: number): [number, number] | undefined {
    const viewport = this.viewport;
    const imageId = viewport?.getCurrentImageId();
    if (!viewport || !imageId) return undefined;
    const world = coreUtils.imageToWorldCoords(imageId, [column, row]);
    if (!world) return undefined;
    const [x, y] = viewport.worldToCanvas(world);
    return [x, y];
  }

  setPreset(name: string): void {
    const viewport = this.viewport;
    if (!viewport) return;
    if (name === 'default') {
      if (this.defaultVoi) viewport.setProperties({ voiRange: { ...this.defaultVoi } });
    } else {
      const [center, width] = PRESETS[name];
      viewport.setProperties({ voiRange: coreUtils.windowLevel.toLowHighRange(width, center) });
    }
    viewport.render();
  }

  invert(): void {
    const viewport = this.viewport;
    if (!viewport) return;
    viewport.setProperties({ invert: !viewport.getProperties().invert });
    viewport.render();
  }

  reset(): void {
    const viewport = this.viewport;
    if (!viewport) return;
    viewport.resetCamera();
    viewport.setProperties({ invert: false, ...(this.defaultVoi ? { voiRange: { ...this.defaultVoi } } : {}) });
    viewport.render();
  }

  updateOverlay(): void {
    const viewport = this.viewport;
    const study = this.study;
    const series = this.series;
    if (!viewport || !study || !series) return;
    const j = study.json;
    const { index, voi, position } = this.state();
    const location = num(series.frames[index]?.instance, T.SliceLocation) ?? position?.[2];
    this.overlay.tl.replaceChildren(
      line(personName(j, T.PatientName)),
      line(`${str(j, T.PatientID)}${str(j, T.IssuerOfPatientID) ? ` · ${str(j, T.IssuerOfPatientID)}` : ''}`),
      line(`${formatDate(str(j, T.PatientBirthDate))} ${str(j, T.PatientSex)}`),
    );
    this.overlay.tr.replaceChildren(
      line(str(j, T.InstitutionName)),
      line(`${formatDate(str(j, T.StudyDate))} ${str(j, T.StudyDescription)}`),
      line(`S${series.number ?? ''} ${series.description}`),
    );
    this.overlay.bl.replaceChildren(
      line(`Im ${index + 1}/${series.imageIds.length}`, 'data-testid', 'slice'),
      line(location !== undefined ? `Loc ${location.toFixed(1)} mm` : ''),
      line(this.loaded < series.imageIds.length ? `${this.loaded}/${series.imageIds.length} ↓` : ''),
    );
    const zoom = viewport.getZoom?.();
    this.overlay.br.replaceChildren(
      line(voi ? `W ${Math.round(voi.width)} L ${Math.round(voi.center)}` : '', 'data-testid', 'window'),
      line(zoom ? `Zoom ${zoom.toFixed(2)}` : ''),
    );
  }
}

/** Share of the image cache one viewport's series may fill. */
const WINDOW_SHARE = 0.8;

/**
 * How many images of `series` one of `panels` viewports keeps loaded: all
 * when they fit in its share of Cornerstone's cache, else as many as fit
 * (at least 16), each taking `imageBytes`.
 */
export function prefetchWindow(series: Series, panels: number, imageBytes?: number): number {
  const j = series.frames[0]?.instance;
  // What one image takes in the cache: that of an image already loaded
  // (decoded pixels may be wider than stored), else its stored size.
  const bytes = imageBytes || (num(j, '00280010') ?? 512) * (num(j, '00280011') ?? 512) * Math.max(1, (num(j, '00280100') ?? 16) / 8) * (num(j, '00280002') ?? 1);
  const fits = Math.floor((cache.getMaxCacheSize() * WINDOW_SHARE) / Math.max(1, panels) / bytes);
  return fits >= series.imageIds.length ? Infinity : Math.max(16, fits);
}

/** One line of an overlay corner, with an attribute (`data-testid`) when given. */
export function line(text: string, attr?: string, value?: string): HTMLDivElement {
  const d = h('div', {}, text) as HTMLDivElement;
  if (attr && value) d.setAttribute(attr, value);
  return d;
}

/** What tests and benchmarks read of a viewport. */
export interface PanelState {
  series?: string;
  index: number;
  count: number;
  loaded: number;
  voi?: { center: number; width: number };
  invert: boolean;
  position?: number[];
  firstImage: boolean;
  /** Transfer syntax the shown frame arrived in. */
  transferSyntax?: string;
  /** The image on screen is the current one (not one still on its way out). */
  shown: boolean;
  /** Images kept loaded around the shown one when the series is larger than the cache allows, else null (all). */
  keep: number | null;
}
