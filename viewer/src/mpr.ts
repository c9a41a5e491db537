// Multi-planar reconstruction of the active series: axial, sagittal and
// coronal planes linked by Cornerstone's crosshairs (drag a reference line
// to move the other planes, drag its end to rotate them into oblique ones),
// a slab thickness with MIP, MinIP or average, window presets, and a 3D
// volume rendering with its presets. It opens over the stack view
// (mpr-view.ts), which stays as it was underneath; its volume streams through
// the frame workers nearest the plane shown first (mpr-volume.ts); the
// Cornerstone engine, viewports and tools are mpr-engine.ts's.

import { Enums, RenderingEngine, Types, cache, getRenderingCapabilities, setVolumesForViewports, utilities as csUtils } from '@cornerstonejs/core';
import { h } from './dom';
import {
  PlaneState, VOLUME_PRESETS, applyTool, createEngine, crosshairs, destroyTools, disable3d, dropSpare, enable3d, planeState, spareEngine, warmUp,
  setSlab, setSlabHandlesMode, setupPlaneTools, software, viewportId,
} from './mpr-engine';
import { MprVolume, createVolume, volumeProblem } from './mpr-volume';
import { Cell, LabelKey, MprTool, MprView, PLANES, Plane, SlabMode, label, note } from './mpr-view';
import { PRESETS, line } from './panel';
import type { Reader } from './viewer';

/**
 * While frames stream in, the planes are drawn again at most this often
 * (ms): a render of the three planes costs a few milliseconds on a GPU and
 * some 300 ms with SwiftShader, which would otherwise hold the page (and the
 * frames arriving) up.
 */
const streamRenderMs = () => (software() ? 750 : 100);
/** Reader keys that act on the stack: swallowed while the MPR is open. */
const STACK_KEYS = new Set(['s', 'l', 'a', 'c', 'v', 'g', 'h', '[', ']', '+', '=', '-', 'Home', 'End']);

/** The thickest slab (mm): more than any body is deep. */
const MAX_SLAB = 500;

type Vec = [number, number, number];

/** What tests and benchmarks read of the MPR (`window.yunying.reader.mpr.state()`). */
export interface MprState {
  active: boolean;
  /** Why the MPR last refused to open (a `LabelKey`), if it did. */
  problem?: string;
  series?: string;
  volumeId?: string;
  frames: number;
  arrived: number;
  /** Fraction of the volume's frames arrived, 0 … 1. */
  loaded: number;
  crosshair?: number[];
  planes: Partial<Record<Plane, PlaneState>>;
  /** The 3D view when shown: its preset and the renders since the preset was chosen. */
  volume3d?: { preset: string; renders: number };
  /**
   * Milliseconds from the MPR opening: all three planes painted with the
   * frame under the crosshair in them (`firstPaint`), and painted again once
   * every frame had arrived (`volumeLoaded`). Also performance marks
   * `yunying:mpr-start`, `yunying:mpr-first-paint`, `yunying:mpr-volume-loaded`.
   */
  timing: { firstPaint?: number; volumeLoaded?: number };
  /** The engine made ahead of opening (its shaders compiled), or why not. */
  spare: ReturnType<typeof spareEngine>;
  tool: MprTool;
  slabThickness: number;
  slabMode: SlabMode;
}

interface Timing {
  started: number;
  /** The frame under the first crosshair. */
  centre: number;
  centreArrived: boolean;
  allArrived: boolean;
  painted: Set<Plane>;
  paintedFull: Set<Plane>;
  firstPaint?: number;
  volumeLoaded?: number;
}

export class Mpr {
  active = false;
  problem?: LabelKey;
  engine?: RenderingEngine;
  volume?: MprVolume;
  private view?: MprView;
  private seriesUid?: string;
  private tool: MprTool = 'crosshairs';
  private slabThickness = 0;
  private slabMode: SlabMode = 'mip';
  /** 3D on by default only where rendering is not emulated in software. */
  private show3d = !software();
  /** The 3D view has the volume and its preset. */
  private shown3d = false;
  private volumePreset = VOLUME_PRESETS[0];
  private defaultVoi?: Types.VOIRange;
  private current: Cell = 'axial';
  private renders: Record<Cell, number> = { axial: 0, sagittal: 0, coronal: 0, volume: 0 };
  private timing?: Timing;
  private generation = 0;
  /** The reader closed: nothing more is made ahead. */
  private closed = false;
  private listeners: (() => void)[] = [];
  private renderTimer?: ReturnType<typeof setTimeout>;
  private keyHandler = (e: KeyboardEvent) => this.onKey(e);

  /** `host`: the reader's main area (toolbar and grid), which the MPR covers. */
  constructor(private readonly reader: Reader, private readonly hostOf: () => HTMLElement) {}

  /** The area the MPR covers (positioned, so that it can). */
  private hostArea(): HTMLElement {
    const host = this.hostOf();
    if (getComputedStyle(host).position === 'static') host.style.position = 'relative';
    return host;
  }

  /** The reader toolbar's button. */
  button(): HTMLButtonElement {
    return h('button', { 'data-testid': 'mpr', title: label('mprTitle'), onclick: () => void this.toggle() }, label('mpr'));
  }

  async toggle(): Promise<void> {
    if (this.active) this.exit();
    else await this.open();
  }

  /** `enter`, and back to the stack with a note if it fails half-way (not if the user left meanwhile). */
  private async open(): Promise<void> {
    try {
      await this.enter();
    } catch (e) {
      if (!this.active) return;
      this.exit();
      note(this.hostArea(), String((e as Error)?.message ?? e));
    }
  }

  /** Open the MPR of the active viewport's series, at its slice; false (and a note saying why) if it cannot be. */
  async enter(): Promise<boolean> {
    if (this.active) return true;
    const panel = this.reader.active;
    const series = panel?.series;
    this.problem = !series ? 'no-series' : !getRenderingCapabilities().webgl ? 'no-webgl' : volumeProblem(series);
    if (this.problem || !series) {
      note(this.hostArea(), label(this.problem ?? 'no-series'));
      return false;
    }
    const generation = ++this.generation;
    this.active = true;
    this.seriesUid = series.uid;
    this.renders = { axial: 0, sagittal: 0, coronal: 0, volume: 0 };
    const started = performance.now();
    performance.mark('yunying:mpr-start');
    const view = new MprView({
      exit: () => this.exit(),
      tool: (t) => this.setTool(t),
      preset: (p) => this.setPreset(p),
      slab: (thickness, mode) => this.setSlab(thickness, mode),
      show3d: (on) => void this.set3d(on),
      volumePreset: (p) => this.setVolumePreset(p),
      reset: () => this.reset(),
      activate: (cell) => this.activate(cell),
    });
    this.view = view;
    this.renderToolbar();
    view.activate(this.current);
    this.hostArea().append(view.root);
    window.addEventListener('keydown', this.keyHandler, true);
    // Another series chosen in the series list: its MPR instead.
    const followSeries = (e: Event) => {
      const ids = (e as CustomEvent<{ imageIds?: string[] }>).detail?.imageIds;
      if (this.active && ids && ids[0] !== series.imageIds[0]) {
        this.exit();
        void this.open();
      }
    };
    panel.element.addEventListener(Enums.Events.VIEWPORT_NEW_IMAGE_SET, followSeries);
    this.listeners.push(() => panel.element.removeEventListener(Enums.Events.VIEWPORT_NEW_IMAGE_SET, followSeries));

    const engine = await createEngine({ axial: view.cells.axial.element, sagittal: view.cells.sagittal.element, coronal: view.cells.coronal.element });
    if (generation !== this.generation) {
      engine.destroy();
      return false;
    }
    this.engine = engine;
    for (const cell of [...PLANES, 'volume'] as Cell[]) this.listen(view.cells[cell].element, cell);
    const resize = new ResizeObserver(() => this.engine?.resize(true, true));
    resize.observe(view.root);
    this.listeners.push(() => resize.disconnect());

    const volume = await createVolume(series, panel.viewport?.getCurrentImageId());
    if (generation !== this.generation) {
      cache.removeVolumeLoadObject(volume.volumeId);
      return false;
    }
    this.volume = volume;
    this.timing = { started, centre: volume.focus, centreArrived: false, allArrived: false, painted: new Set(), paintedFull: new Set() };
    volume.onFrame = (index, arrived, total) => this.onFrame(index, arrived, total);
    // The crosshair where the stack was: its slice, the middle of the image
    // (taken now: setting the volume centres the planes, which moves the focus).
    const [columns, rows] = volume.dimensions;
    const start = csUtils.transformIndexToWorld(volume.imageData, [(columns - 1) / 2, (rows - 1) / 2, volume.focus]) as Vec;
    await setVolumesForViewports(engine, [{ volumeId: volume.volumeId }], PLANES.map(viewportId));
    if (generation !== this.generation) return false;
    const voi = this.viewport('axial').getProperties()?.voiRange;
    this.defaultVoi = voi ? { ...voi } : undefined;
    setupPlaneTools(this.slabMode, this.tool);
    this.setCrosshair(start);
    volume.load(() => undefined);
    view.placeholder(this.show3d);
    if (this.show3d) await this.set3d(true);
    this.renderPlanes();
    return true;
  }

  /** Back to the stack view, as it was. */
  exit(): void {
    if (!this.active) return;
    this.generation++;
    this.active = false;
    this.shown3d = false;
    window.removeEventListener('keydown', this.keyHandler, true);
    for (const off of this.listeners.splice(0)) off();
    clearTimeout(this.renderTimer);
    this.renderTimer = undefined;
    destroyTools();
    // The frames stay in the image cache for the stack; only the volume over them goes.
    if (this.volume && cache.getVolumeLoadObject(this.volume.volumeId)) cache.removeVolumeLoadObject(this.volume.volumeId);
    this.volume = undefined;
    this.engine?.destroy();
    this.engine = undefined;
    this.view?.root.remove();
    this.view = undefined;
    // The next MPR as quick to open as this one could have been.
    this.prepare();
  }

  destroy(): void {
    this.closed = true;
    this.exit();
    dropSpare();
  }

  /**
   * When the page is idle, the engine and its shaders made ahead (mpr-engine.ts
   * `warmUp`) if the active viewport's series can be shown as a volume: the
   * reader calls it once the first image is shown.
   */
  prepare(): void {
    const series = this.reader.active?.series;
    if (this.closed || this.active || !series || volumeProblem(series)) return;
    const idle = window.requestIdleCallback ?? ((run: () => void) => setTimeout(run, 200));
    idle(() => {
      if (!this.closed && !this.active) warmUp();
    }, { timeout: 2000 });
  }

  viewport(cell: Cell): Types.IVolumeViewport {
    return this.engine!.getViewport(viewportId(cell)) as Types.IVolumeViewport;
  }

  /** Move the crosshair (and so every plane; the axial one steers the loading order) to a world point. */
  setCrosshair(world: Vec): void {
    crosshairs()?.setToolCenter(world);
  }

  /** The volume's value (modality units) at a world point, from the nearest voxel. */
  sample(world: Vec): number | undefined {
    const value = this.viewport('axial')?.getIntensityFromWorld(world);
    return typeof value === 'number' ? value : undefined;
  }

  /** Canvas coordinates (CSS pixels) of a world point in a plane's viewport. */
  canvasPoint(plane: Plane, world: Vec): [number, number] {
    const [x, y] = this.viewport(plane).worldToCanvas(world);
    return [x, y];
  }

  state(): MprState {
    const volume = this.volume;
    const planes: MprState['planes'] = {};
    if (this.active && this.engine && volume) {
      for (const plane of PLANES) planes[plane] = planeState(this.viewport(plane), this.renders[plane]);
    }
    const frames = volume?.imageIds.length ?? 0;
    return {
      active: this.active,
      problem: this.problem,
      series: this.active ? this.seriesUid : undefined,
      volumeId: volume?.volumeId,
      frames,
      arrived: volume?.arrived ?? 0,
      loaded: frames ? (volume?.arrived ?? 0) / frames : 0,
      crosshair: crosshairs() ? [...crosshairs()!.toolCenter] : undefined,
      planes,
      volume3d: this.active && this.shown3d ? { preset: this.volumePreset, renders: this.renders.volume } : undefined,
      timing: { firstPaint: this.timing?.firstPaint, volumeLoaded: this.timing?.volumeLoaded },
      spare: spareEngine(),
      tool: this.tool,
      slabThickness: this.slabThickness,
      slabMode: this.slabMode,
    };
  }

  setTool(tool: MprTool): void {
    this.tool = tool;
    applyTool(tool);
    this.renderToolbar();
  }

  /** A window preset (panel.ts's, or the dataset's own for `default`) in the three planes. */
  setPreset(name: string): void {
    if (!this.engine || !this.volume) return;
    const range = name === 'default' ? this.defaultVoi : PRESETS[name] && csUtils.windowLevel.toLowHighRange(PRESETS[name][1], PRESETS[name][0]);
    if (!range) return;
    for (const plane of PLANES) this.viewport(plane).setProperties({ voiRange: { ...range } });
    this.renderPlanes();
  }

  /** Slab `thickness` mm (0: a single slice; at most `MAX_SLAB`) blended by `mode`, in the three planes. */
  setSlab(thickness: number, mode: SlabMode): void {
    thickness = Math.min(MAX_SLAB, Math.max(0, Number.isFinite(thickness) ? thickness : 0));
    this.slabThickness = thickness;
    this.slabMode = mode;
    setSlabHandlesMode(mode);
    if (this.engine && this.volume) {
      for (const plane of PLANES) setSlab(this.viewport(plane), thickness, mode);
      this.renderPlanes();
    }
    this.renderToolbar();
  }

  /** Show or hide the 3D view (a VOLUME_3D viewport in the fourth cell). */
  async set3d(on: boolean): Promise<void> {
    this.show3d = on;
    this.renderToolbar();
    const engine = this.engine;
    const view = this.view;
    const volume = this.volume;
    if (!engine || !view || !volume) return;
    view.placeholder(on);
    const shown = !!engine.getViewport(viewportId('volume'));
    if (!on) {
      this.shown3d = false;
      disable3d(engine);
      return;
    }
    if (shown) return;
    await enable3d(engine, view.cells.volume.element, volume.volumeId);
    if (this.engine !== engine || !engine.getViewport(viewportId('volume'))) return;
    this.setVolumePreset(this.volumePreset);
    this.shown3d = true;
  }

  setVolumePreset(name: string): void {
    this.volumePreset = name;
    const viewport = this.engine?.getViewport(viewportId('volume')) as Types.IVolumeViewport | undefined;
    if (viewport) {
      this.renders.volume = 0;
      viewport.setProperties({ preset: name });
      viewport.render();
    }
    this.renderToolbar();
  }

  /** Every plane back to its orientation, zoom and the dataset's window, a single slice, the crosshair at the centre. */
  reset(): void {
    if (!this.engine || !this.volume) return;
    this.setSlab(0, this.slabMode);
    for (const plane of PLANES) {
      const viewport = this.viewport(plane);
      viewport.resetCamera();
      viewport.setProperties({ invert: false, ...(this.defaultVoi ? { voiRange: { ...this.defaultVoi } } : {}) });
    }
    crosshairs()?.resetCrosshairs();
    this.renderPlanes();
  }

  invert(): void {
    if (!this.engine || !this.volume) return;
    for (const plane of PLANES) {
      const viewport = this.viewport(plane);
      viewport.setProperties({ invert: !viewport.getProperties()?.invert });
    }
    this.renderPlanes();
  }

  /** Step the active plane by `delta` slices. */
  scroll(delta: number): void {
    if (!this.engine || !this.volume || this.current === 'volume') return;
    csUtils.scroll(this.viewport(this.current) as never, { delta });
  }

  private activate(cell: Cell): void {
    this.current = cell;
    this.view?.activate(cell);
  }

  private renderToolbar(): void {
    this.view?.renderToolbar({
      tool: this.tool, thickness: this.slabThickness, mode: this.slabMode,
      show3d: this.show3d, volumePreset: this.volumePreset, volumePresets: VOLUME_PRESETS,
    });
  }

  /** Renders of a cell: overlays, paint times; the axial plane's slice steers the loading order. */
  private listen(element: HTMLDivElement, cell: Cell): void {
    const rendered = () => this.onRendered(cell);
    element.addEventListener(Enums.Events.IMAGE_RENDERED, rendered);
    this.listeners.push(() => element.removeEventListener(Enums.Events.IMAGE_RENDERED, rendered));
    if (cell !== 'axial') return;
    const moved = () => {
      const volume = this.volume;
      if (volume && this.engine) volume.refocus(volume.sliceOf(this.viewport('axial').getCamera().focalPoint as Vec));
    };
    element.addEventListener(Enums.Events.CAMERA_MODIFIED, moved);
    this.listeners.push(() => element.removeEventListener(Enums.Events.CAMERA_MODIFIED, moved));
  }

  private onFrame(index: number, arrived: number, total: number): void {
    const timing = this.timing;
    this.view?.setLoaded(arrived, total);
    if (!timing) return;
    if (arrived === total) timing.allArrived = true;
    if (index === timing.centre && !timing.centreArrived) {
      timing.centreArrived = true;
      this.renderPlanes();
    } else if (arrived === total) {
      // The 3D view too, once, with the whole volume.
      clearTimeout(this.renderTimer);
      this.renderTimer = undefined;
      this.engine?.render();
    } else {
      this.renderSoon();
    }
  }

  /** Draw the new frames in a while, with those that arrive until then. */
  private renderSoon(): void {
    if (this.renderTimer !== undefined) return;
    this.renderTimer = setTimeout(() => {
      this.renderTimer = undefined;
      this.renderPlanes();
    }, streamRenderMs());
  }

  /** The three planes (not the 3D view, which costs seconds a frame without a GPU). */
  private renderPlanes(): void {
    this.engine?.renderViewports(PLANES.map(viewportId));
  }

  private onRendered(cell: Cell): void {
    this.renders[cell]++;
    this.updateOverlay(cell);
    const timing = this.timing;
    if (!timing || cell === 'volume') return;
    const now = performance.now();
    if (timing.centreArrived && timing.firstPaint === undefined) {
      timing.painted.add(cell);
      if (timing.painted.size === PLANES.length) {
        timing.firstPaint = now - timing.started;
        performance.mark('yunying:mpr-first-paint');
      }
    }
    if (timing.allArrived && timing.volumeLoaded === undefined) {
      timing.paintedFull.add(cell);
      if (timing.paintedFull.size === PLANES.length) {
        timing.volumeLoaded = now - timing.started;
        performance.mark('yunying:mpr-volume-loaded');
      }
    }
  }

  private updateOverlay(cell: Cell): void {
    const c = this.view?.cells[cell];
    if (!c || !this.engine || !this.volume || cell === 'volume') return;
    const s = planeState(this.viewport(cell), this.renders[cell]);
    c.bl.replaceChildren(
      line(s.slice !== undefined && s.slices ? `${s.slice + 1}/${s.slices}` : label('crosshairs'), 'data-testid', `mpr-slice-${cell}`),
      line(s.blend === 'composite' ? '' : `${label(s.blend)} ${s.slab.toFixed(0)} ${label('mm')}`),
    );
    c.br.replaceChildren(line(s.voi ? `W ${Math.round(s.voi.width)} L ${Math.round(s.voi.center)}` : '', 'data-testid', `mpr-window-${cell}`));
  }

  /** Keys while the MPR is open; the reader's stack keys do not reach the hidden stack. */
  private onKey(e: KeyboardEvent): void {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const keys: Record<string, () => void> = {
      m: () => this.exit(),
      Escape: () => this.exit(),
      x: () => this.setTool('crosshairs'),
      w: () => this.setTool('window'),
      p: () => this.setTool('pan'),
      z: () => this.setTool('zoom'),
      r: () => this.reset(),
      i: () => this.invert(),
      ArrowUp: () => this.scroll(-1),
      ArrowDown: () => this.scroll(1),
      PageUp: () => this.scroll(-10),
      PageDown: () => this.scroll(10),
      '1': () => this.setPreset('default'),
      '2': () => this.setPreset('soft'),
      '3': () => this.setPreset('lung'),
      '4': () => this.setPreset('bone'),
      '5': () => this.setPreset('brain'),
    };
    const action = keys[e.key];
    if (!action && !STACK_KEYS.has(e.key)) return;
    e.preventDefault();
    e.stopImmediatePropagation();
    action?.();
  }
}
