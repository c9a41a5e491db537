// The reading view: series panel, 1×1 / 1×2 / 2×2 stack viewports on
// Cornerstone3D, tools, presets, cine, overlays, priors side by side with
// synchronised scrolling, and progressive loading
// (thumbnail → stored preview → lossless frames). One viewport is a
// `Panel` (panel.ts).

import { Enums as CoreEnums, RenderingEngine, cache, metaData } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import { Annotations } from './annotations';
import { arrowTextConfiguration } from './annotations-dialog';
import { CINE_SPEEDS, exportControls, nextSpeed, openTagBrowser, toggleFullscreen } from './comfort';
import { DicomWeb, T, formatDate, str } from './dicomweb';
import { clear, h } from './dom';
import { t } from './i18n';
import { Mpr } from './mpr';
import { Panel } from './panel';
import { Hanging } from './hanging-reader';
import { layoutCells } from './hanging';
import { rememberShown, startIndex } from './prior-offsets';
import { scoutFollows, scoutSource, setupScoutLines, showScoutLines } from './scout';
import { showPriorReports } from './prior-report';
import { Prior, Study, findPriors, loadSeries, loadStudy } from './study';

const { MouseBindings, KeyboardBindings } = tools.Enums;
const ENGINE_ID = 'yunying';
const TOOL_GROUP_ID = 'yunying-tools';

/** The tools a user can put on the left button, by toolbar key. */
const TOOL_CLASSES = {
  window: tools.WindowLevelTool,
  pan: tools.PanTool,
  zoom: tools.ZoomTool,
  scroll: tools.StackScrollTool,
  length: tools.LengthTool,
  angle: tools.AngleTool,
  rect: tools.RectangleROITool,
  ellipse: tools.EllipticalROITool,
  arrow: tools.ArrowAnnotateTool,
  probe: tools.ProbeTool,
  magnify: tools.MagnifyTool,
};
const PRIMARY_TOOLS: Record<string, string> = Object.fromEntries(
  Object.entries(TOOL_CLASSES).map(([key, tool]) => [key, tool.toolName]),
);

let toolsRegistered = false;

function registerTools(): void {
  if (toolsRegistered) return;
  for (const tool of Object.values(TOOL_CLASSES)) tools.addTool(tool);
  toolsRegistered = true;
}


/** Resolves once `ready()` holds (checked every animation frame, at most 10 s). */
function until(ready: () => boolean): Promise<void> {
  const deadline = performance.now() + 10000;
  return new Promise((resolve) => {
    const check = () => (ready() || performance.now() > deadline ? resolve() : requestAnimationFrame(check));
    check();
  });
}

export type Layout = '1x1' | '1x2' | '2x2' | '1x3' | '2x3';

/** The reading view of one study. */
export class Reader {
  engine!: RenderingEngine;
  readonly panels: Panel[] = [];
  active!: Panel;
  study!: Study;
  priors: Prior[] = [];
  /** Hanging protocols: the one applied, the choices (hanging-reader.ts). */
  readonly hanging: Hanging = new Hanging(this);
  private grid = h('div', { class: 'grid', 'data-layout': '1x1' });
  private seriesList = h('div', { class: 'series-list', 'data-testid': 'series' });
  private priorList = h('div', { class: 'priors', 'data-testid': 'priors' });
  private studies = new Map<string, Study>();
  private layout: Layout = '1x1';
  /** Synchronised scrolling: position offset from one viewport (`a>b`) to another. */
  private offsets = new Map<string, number[]>();
  private synced = true;
  /** Scout lines: the active viewport's slice drawn across the others' images (scout.ts). */
  scout = true;
  private playing = false;
  /** Cine speed, frames per second. */
  fps = 20;
  private primary = 'window';
  private toolbar = h('div', { class: 'toolbar' });
  /** Buttons under "back" for what may be done with the study (e.g. request a reading). */
  readonly actions = h('div', { class: 'reader-actions' });
  readonly marks: Record<string, number> = {};
  /** Multi-planar reconstruction and 3D of the active series, over the stack view (mpr.ts). */
  readonly mpr = new Mpr(this, () => this.grid.parentElement!);
  /** Saved measurements and annotations (annotations.ts). */
  readonly annotations = new Annotations(this);
  private keyHandler = (e: KeyboardEvent) => this.onKey(e);
  private resizeObserver?: ResizeObserver;

  constructor(readonly web: DicomWeb, private back: () => void) {}

  async open(root: HTMLElement, studyUid: string): Promise<void> {
    const opened = performance.now();
    this.marks.opened = opened;
    clear(root);
    registerTools();
    const status = h('div', { class: 'status' }, t('loading'));
    root.append(
      h('section', { class: 'reader' },
        h('aside', { class: 'side' },
          h('button', { class: 'back', onclick: () => this.back() }, `← ${t('back')}`),
          this.actions,
          h('h2', {}, t('series')), this.seriesList,
          h('h2', {}, t('priors')), this.priorList,
        ),
        h('div', { class: 'main' }, this.toolbar, this.grid, status),
      ),
    );
    this.engine = new RenderingEngine(ENGINE_ID);
    // Canvases follow their elements (window size, toolbar wrapping), keeping zoom and pan.
    this.resizeObserver = new ResizeObserver(() => this.engine.resize(true, true));
    this.resizeObserver.observe(this.grid);
    this.setupTools();
    this.setLayout('1x1');
    this.study = await loadStudy(this.web, studyUid);
    this.studies.set(studyUid, this.study);
    status.remove();
    this.renderToolbar();
    this.renderSeries();
    document.addEventListener('keydown', this.keyHandler);
    const first = this.study.series.find((s) => s.count > 0) ?? this.study.series[0];
    // The first hanging protocol that matches (hanging-reader.ts), else the first series.
    const priors = findPriors(this.web, this.study).catch(() => [] as Prior[]);
    void this.loadPriors(priors);
    if (!(await this.hanging.start(priors)) && first) await this.active.show(this.study, first);
    this.renderSeriesThumbnails();
    void this.annotations.load();
  }

  destroy(): void {
    this.mpr.destroy();
    document.removeEventListener('keydown', this.keyHandler);
    this.resizeObserver?.disconnect();
    tools.ToolGroupManager.destroyToolGroup(TOOL_GROUP_ID);
    this.engine?.destroy();
    cache.purgeCache();
  }

  /** Lengths, angles and ROI statistics drawn so far. */
  measurements(): { tool: string; final: boolean; values: Record<string, unknown> }[] {
    const all = tools.annotation.state.getAllAnnotations();
    return all.map((a) => {
      const stats = (a.data as { cachedStats?: Record<string, Record<string, unknown>> }).cachedStats ?? {};
      // Statistics are recomputed at the next render after a handle moves.
      return { tool: a.metadata?.toolName ?? '', final: !a.invalidated && !a.highlighted, values: Object.values(stats)[0] ?? {} };
    });
  }

  mark(panel: Panel, what: string): void {
    if (panel !== this.panels[0]) return;
    if (this.marks[what] === undefined) {
      this.marks[what] = performance.now();
      performance.mark(`yunying:${what}`);
      if (what === 'first-image') this.mpr.prepare();
    }
  }

  activate(panel: Panel): void {
    const changed = this.active !== panel;
    this.active = panel;
    for (const p of this.panels) p.root.classList.toggle('active', p === panel);
    if (changed) scoutSource(tools.ToolGroupManager.getToolGroup(TOOL_GROUP_ID), panel.id);
  }

  setScout(on: boolean): void {
    this.scout = on;
    showScoutLines(tools.ToolGroupManager.getToolGroup(TOOL_GROUP_ID), on);
    this.renderToolbar();
  }

  setLayout(layout: Layout): void {
    this.layout = layout;
    const count = layoutCells(layout);
    this.grid.dataset.layout = layout;
    while (this.panels.length < count) {
      const panel = new Panel(`vp${this.panels.length}`, this);
      scoutFollows(panel.element, () => tools.ToolGroupManager.getToolGroup(TOOL_GROUP_ID), () => this.active === panel);
      this.panels.push(panel);
    }
    const group = tools.ToolGroupManager.getToolGroup(TOOL_GROUP_ID)!;
    for (const [i, panel] of this.panels.entries()) {
      const wanted = i < count;
      const enabled = this.engine.getViewport(panel.id) !== undefined;
      if (wanted && !enabled) {
        this.grid.append(panel.root);
        this.engine.enableElement({ viewportId: panel.id, type: CoreEnums.ViewportType.STACK, element: panel.element, defaultOptions: { background: [0, 0, 0] } });
        group.addViewport(panel.id, ENGINE_ID);
        if (panel.study && panel.series) void panel.show(panel.study, panel.series, panel.lastIndex);
      } else if (!wanted && enabled) {
        panel.lastIndex = panel.viewport?.getCurrentImageIdIndex() ?? 0;
        group.removeViewports(ENGINE_ID, panel.id);
        this.engine.disableElement(panel.id);
        panel.root.remove();
      }
    }
    if (!this.active || this.panels.indexOf(this.active) >= count) this.activate(this.panels[0]);
    // Every viewport got a new size: fit the images again.
    void this.grid.offsetWidth;
    this.engine.resize(true, false);
    this.renderToolbar();
  }

  /** One tool group for every viewport. */
  private setupTools(): void {
    const group = tools.ToolGroupManager.createToolGroup(TOOL_GROUP_ID)!;
    for (const name of Object.values(PRIMARY_TOOLS)) group.addTool(name);
    // Lengths to a tenth of a millimetre, as radiologists report them.
    group.setToolConfiguration(tools.LengthTool.toolName, {
      getTextLines: (data: { cachedStats: Record<string, { length?: number; unit?: string }> }, targetId: string) => {
        const stats = data.cachedStats[targetId];
        return stats?.length === undefined ? [] : [`${stats.length.toFixed(1)} ${stats.unit ?? ''}`.trim()];
      },
    });
    // An arrow's text from a dialog in the page (annotations-dialog.ts).
    group.setToolConfiguration(tools.ArrowAnnotateTool.toolName, arrowTextConfiguration);
    this.applyPrimary(group);
    setupScoutLines(group, 'vp0', this.scout);
  }

  private applyPrimary(group = tools.ToolGroupManager.getToolGroup(TOOL_GROUP_ID)): void {
    if (!group) return;
    const primaryTool = PRIMARY_TOOLS[this.primary];
    for (const name of Object.values(PRIMARY_TOOLS)) {
      if (name !== primaryTool) group.setToolPassive(name, { removeAllBindings: true } as never);
    }
    const bindings: tools.Types.IToolBinding[] = [{ mouseButton: MouseBindings.Primary }, { numTouchPoints: 1 } as never];
    group.setToolActive(primaryTool, { bindings });
    // Fixed bindings besides the chosen primary tool: wheel scrolls, middle
    // pans, right zooms, two fingers pan and pinch to zoom, Shift-drag scrolls.
    if (primaryTool !== tools.StackScrollTool.toolName) {
      group.setToolActive(tools.StackScrollTool.toolName, {
        bindings: [{ mouseButton: MouseBindings.Wheel }, { mouseButton: MouseBindings.Primary, modifierKey: KeyboardBindings.Shift }],
      });
    } else {
      group.setToolActive(tools.StackScrollTool.toolName, { bindings: [...bindings, { mouseButton: MouseBindings.Wheel }] });
    }
    if (primaryTool !== tools.PanTool.toolName) {
      group.setToolActive(tools.PanTool.toolName, { bindings: [{ mouseButton: MouseBindings.Auxiliary }, { numTouchPoints: 3 } as never] });
    }
    if (primaryTool !== tools.ZoomTool.toolName) {
      group.setToolActive(tools.ZoomTool.toolName, { bindings: [{ mouseButton: MouseBindings.Secondary }, { numTouchPoints: 2 } as never] });
    }
  }

  setPrimary(tool: string): void {
    this.primary = tool;
    this.applyPrimary();
    this.renderToolbar();
  }

  /** `byHand`: the reader turned it on, having lined a prior up: that offset is remembered (prior-offsets.ts). */
  setSync(on: boolean, byHand = false): void {
    this.synced = on;
    if (on) this.alignSync();
    if (on && byHand) rememberShown(this.study.uid, this.shownPanels());
    this.renderToolbar();
  }

  /**
   * Synchronised scrolling keeps the offsets the viewports have now: within
   * one frame of reference none, between studies the difference of the
   * table positions shown (what a radiologist lines up by hand).
   */
  alignSync(): void {
    this.offsets.clear();
    const shown = this.shownPanels().map((p) => ({ panel: p, position: p.state().position }));
    for (const { panel: a, position: pa } of shown) {
      for (const { panel: b, position: pb } of shown) {
        if (a === b || !pa || !pb) continue;
        const sameFrame = a.viewport!.getFrameOfReferenceUID() === b.viewport!.getFrameOfReferenceUID();
        this.offsets.set(`${a.id}>${b.id}`, sameFrame ? [0, 0, 0] : [pb[0] - pa[0], pb[1] - pa[1], pb[2] - pa[2]]);
      }
    }
  }

  /**
   * The active viewport moved to a new image: the others follow to the image
   * nearest its position (plus their offset). Only the viewport the user
   * works in leads, so followers' own image events never steer it back.
   */
  follow(leader: Panel): void {
    if (!this.synced || leader !== this.active) return;
    const p = leader.state().position;
    if (!p) return;
    for (const other of this.shownPanels()) {
      if (other === leader) continue;
      const offset = this.offsets.get(`${leader.id}>${other.id}`);
      const viewport = other.viewport!;
      if (!offset) continue;
      const want = [p[0] + offset[0], p[1] + offset[1], p[2] + offset[2]];
      const index = nearestImage(viewport.getImageIds(), want);
      if (index >= 0 && index !== viewport.getTargetImageIdIndex()) void viewport.setImageIdIndex(index);
    }
  }

  shownPanels(): Panel[] {
    return this.panels.filter((p) => p.series && p.viewport?.getCurrentImageId());
  }

  toggleCine(): void {
    const element = this.active.element;
    if (this.playing) tools.utilities.cine.stopClip(element);
    else tools.utilities.cine.playClip(element, { framesPerSecond: this.fps });
    this.playing = !this.playing;
    this.renderToolbar();
  }

  /** A new cine speed; a playing clip goes on at it. */
  setFps(fps: number): void {
    this.fps = fps;
    if (this.playing) tools.utilities.cine.playClip(this.active.element, { framesPerSecond: fps });
    this.renderToolbar();
  }

  /** Show the next (`step` 1) or previous (−1) series of the active viewport's study. */
  async stepSeries(step: 1 | -1): Promise<void> {
    const { study, series } = this.active;
    if (!study || !series) return;
    const list = study.series.filter((s) => s.count > 0);
    const next = list[list.indexOf(series) + step];
    if (next) await this.active.show(study, next);
  }

  /** Scroll the active viewport. */
  scroll(delta: number): void {
    this.active.scroll(delta);
  }

  private onKey(e: KeyboardEvent): void {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement || e.target instanceof HTMLTextAreaElement) return;
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
      e.preventDefault();
      void this.annotations.save();
      return;
    }
    const keys: Record<string, () => void> = {
      ArrowUp: () => this.scroll(-1),
      ArrowDown: () => this.scroll(1),
      PageUp: () => this.scroll(-10),
      PageDown: () => this.scroll(10),
      Home: () => this.scroll(-1e6),
      End: () => this.scroll(1e6),
      w: () => this.setPrimary('window'),
      p: () => this.setPrimary('pan'),
      z: () => this.setPrimary('zoom'),
      s: () => this.setPrimary('scroll'),
      l: () => this.setPrimary('length'),
      a: () => this.setPrimary('angle'),
      n: () => this.setPrimary('arrow'),
      k: () => this.annotations.toggleKey(),
      r: () => this.active.reset(),
      i: () => this.active.invert(),
      c: () => this.toggleCine(),
      m: () => void this.mpr.toggle(),
      v: () => this.setPrimary('probe'),
      g: () => this.setPrimary('magnify'),
      '[': () => void this.stepSeries(-1),
      ']': () => void this.stepSeries(1),
      '+': () => this.setFps(nextSpeed(this.fps, 1)),
      '=': () => this.setFps(nextSpeed(this.fps, 1)),
      '-': () => this.setFps(nextSpeed(this.fps, -1)),
      t: () => void openTagBrowser(this.active),
      f: () => toggleFullscreen(this.grid.parentElement ?? this.grid),
      h: () => this.hanging.cycle(),
      o: () => this.setScout(!this.scout),
      '1': () => this.active.setPreset('default'),
      '2': () => this.active.setPreset('soft'),
      '3': () => this.active.setPreset('lung'),
      '4': () => this.active.setPreset('bone'),
      '5': () => this.active.setPreset('brain'),
    };
    const action = keys[e.key];
    if (action) {
      e.preventDefault();
      action();
    }
  }

  private renderToolbar(): void {
    const button = (label: string, on: boolean, onclick: () => void, id: string) =>
      h('button', { class: on ? 'on' : '', 'data-testid': id, onclick }, label);
    const toolLabels: Record<string, string> = {
      window: t('toolWindow'), pan: t('toolPan'), zoom: t('toolZoom'), scroll: t('toolScroll'),
      length: t('toolLength'), angle: t('toolAngle'), rect: t('toolRect'), ellipse: t('toolEllipse'), arrow: t('toolArrow'),
      probe: t('toolProbe'), magnify: t('toolMagnify'),
    };
    const presetLabels: Record<string, string> = {
      default: t('presetDefault'), soft: t('presetSoft'), lung: t('presetLung'), bone: t('presetBone'), brain: t('presetBrain'),
    };
    this.toolbar.replaceChildren(
      h('span', { class: 'group' }, ...Object.entries(toolLabels).map(([k, label]) => button(label, this.primary === k, () => this.setPrimary(k), `tool-${k}`))),
      h('span', { class: 'group' }, `${t('presets')}:`, ...Object.entries(presetLabels).map(([k, label]) => button(label, false, () => this.active.setPreset(k), `preset-${k}`))),
      h('span', { class: 'group' }, `${t('layout')}:`, ...(['1x1', '1x2', '2x2'] as Layout[]).map((l) => button(l.replace('x', '×'), this.layout === l, () => this.setLayout(l), `layout-${l}`))),
      h('span', { class: 'group' },
        button(t('sync'), this.synced, () => this.setSync(!this.synced, true), 'sync'),
        button(t('scoutLines'), this.scout, () => this.setScout(!this.scout), 'scout-lines'),
        button(t('cine'), this.playing, () => this.toggleCine(), 'cine'),
        h('select', { 'data-testid': 'cine-speed', title: t('cineSpeed'), onchange: (e: Event) => this.setFps(Number((e.target as HTMLSelectElement).value)) },
          ...CINE_SPEEDS.map((s) => h('option', { value: s, selected: s === this.fps }, `${s} ${t('fps')}`))),
        button(t('invert'), false, () => this.active.invert(), 'invert'),
        button(t('reset'), false, () => this.active.reset(), 'reset'),
        this.mpr.button(),
      ),
      h('span', { class: 'group' },
        button(t('tags'), false, () => void openTagBrowser(this.active), 'tags'),
        button(t('fullscreen'), false, () => toggleFullscreen(this.grid.parentElement ?? this.grid), 'fullscreen'),
        exportControls(() => this.active),
      ),
      this.hanging.control(),
      this.annotations.button(),
      h('span', { class: 'hint' }, t('shortcuts')),
    );
  }

  private renderSeries(): void {
    clear(this.seriesList);
    for (const study of this.studies.values()) {
      for (const series of study.series) {
        const img = h('img', { alt: '', 'data-thumb': series.uid });
        const item = h('div', {
          class: 'series-item', 'data-series': series.uid, 'data-study': study.uid,
          onclick: () => void this.active.show(study, series),
        }, img, h('div', {},
          h('div', {}, `S${series.number ?? ''} ${series.modality} ${series.description}`),
          h('div', { class: 'muted' }, `${series.count} · ${formatDate(str(study.json, T.StudyDate))}`)));
        this.seriesList.append(item);
      }
    }
  }

  /** Thumbnails after the first image: `thumbnail`, else `rendered` with a viewport. */
  private renderSeriesThumbnails(): void {
    for (const study of this.studies.values()) {
      for (const series of study.series) {
        const img = this.seriesList.querySelector<HTMLImageElement>(`img[data-thumb="${series.uid}"]`);
        if (!img || img.src) continue;
        const base = this.web.seriesUrl(study.uid, series.uid);
        this.web.imageUrl(`${base}/thumbnail?viewport=128,128`)
          .catch(() => this.web.imageUrl(`${base}/rendered?viewport=128,128`))
          .then((url) => { img.src = url; })
          .catch(() => { img.classList.add('missing'); });
      }
    }
  }

  private async loadPriors(found: Promise<Prior[]>): Promise<void> {
    this.priors = await found;
    clear(this.priorList);
    if (!this.priors.length) {
      this.priorList.append(h('div', { class: 'muted' }, t('noPriors')));
      return;
    }
    for (const prior of this.priors) {
      const j = prior.json;
      this.priorList.append(h('div', { class: 'prior', 'data-prior': prior.uid },
        h('div', {}, `${formatDate(str(j, T.StudyDate))} ${str(j, T.StudyDescription)}`),
        h('div', { class: 'muted' }, [str(j, T.InstitutionName), str(j, T.IssuerOfPatientID), prior.otherInstitution ? t('otherInstitution') : prior.linkedInstitution ? t('linkedInstitution') : ''].filter(Boolean).join(' · ')),
        h('button', { 'data-testid': 'compare', onclick: () => void this.compare(prior.uid) }, t('compare'))));
    }
  }

  /** Open a prior side by side: 1×2, the prior on the right at the matching slice, scrolling synchronised. */
  async compare(priorUid: string): Promise<void> {
    const prior = await this.studyOf(priorUid);
    if (this.layout === '1x1') this.setLayout('1x2');
    const left = this.panels[0];
    const right = this.panels[1];
    const series = prior.series.find((s) => s.modality === left.series?.modality) ?? prior.series[0];
    if (!series) return;
    await loadSeries(this.web, series);
    await right.show(prior, series, startIndex(left, series));
    await until(() => right.state().firstImage);
    this.setSync(true);
    this.activate(left);
    void showPriorReports(this.web, this.study.uid, this.panels);
  }

  /** A study of the patient's, loaded once and listed with its series. */
  async studyOf(uid: string): Promise<Study> {
    let study = this.studies.get(uid);
    if (!study) {
      study = await loadStudy(this.web, uid);
      this.studies.set(uid, study);
      this.renderSeries();
      this.renderSeriesThumbnails();
    }
    return study;
  }
}

/** Index of the image whose position is nearest `point`, or -1. */
function nearestImage(imageIds: string[], point: number[]): number {
  let best = -1;
  let bestDistance = Infinity;
  imageIds.forEach((id, k) => {
    const q = metaData.get('imagePlaneModule', id)?.imagePositionPatient as number[] | undefined;
    if (!q) return;
    const d = Math.hypot(q[0] - point[0], q[1] - point[1], q[2] - point[2]);
    if (d < bestDistance) {
      bestDistance = d;
      best = k;
    }
  });
  return best;
}
