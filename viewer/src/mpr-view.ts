// The page of multi-planar reconstruction (mpr.ts): its toolbar (tools,
// window presets, slab thickness and mode, the 3D view and its rendering
// preset, back to the stack) over a 2×2 grid of the three planes and the 3D
// view, each with its overlay; labels in Chinese and English. DOM only:
// what a control does is the `MprActions` it is given.

import { h } from './dom';
import { lang } from './i18n';
import './mpr.css';

export type Plane = 'axial' | 'sagittal' | 'coronal';
export const PLANES: Plane[] = ['axial', 'sagittal', 'coronal'];
/** A cell of the grid: a plane or the 3D view. */
export type Cell = Plane | 'volume';
export type SlabMode = 'mip' | 'minip' | 'avg';
export type MprTool = 'crosshairs' | 'window' | 'pan' | 'zoom';

const LABELS = {
  mpr: ['MPR', 'MPR'],
  mprTitle: ['多平面重建与三维（M）', 'Multi-planar reconstruction and 3D (M)'],
  back: ['返回二维', 'Back to stack'],
  axial: ['轴位', 'Axial'],
  sagittal: ['矢状位', 'Sagittal'],
  coronal: ['冠状位', 'Coronal'],
  volume: ['三维', '3D'],
  crosshairs: ['十字线', 'Crosshairs'],
  window: ['窗位', 'Window'],
  pan: ['平移', 'Pan'],
  zoom: ['缩放', 'Zoom'],
  presets: ['窗宽窗位', 'Window'],
  default: ['默认', 'Default'],
  soft: ['软组织', 'Soft tissue'],
  lung: ['肺窗', 'Lung'],
  bone: ['骨窗', 'Bone'],
  brain: ['脑窗', 'Brain'],
  slab: ['层厚', 'Slab'],
  mm: ['毫米', 'mm'],
  mip: ['MIP', 'MIP'],
  minip: ['MinIP', 'MinIP'],
  avg: ['平均', 'Average'],
  show3d: ['显示三维', 'Show 3D'],
  hide3d: ['隐藏三维', 'Hide 3D'],
  off3d: ['三维未显示（无 GPU 时较慢）', '3D not shown (slow without a GPU)'],
  reset: ['复位', 'Reset'],
  loaded: ['已载入 {n}/{m}', 'Loaded {n}/{m}'],
  hint: [
    '快捷键：M/Esc 返回 · X 十字线 · W 窗位 · P 平移 · Z 缩放 · ↑↓ 翻页 · R 复位 · I 反色 · 1–5 预设 · 拖动十字线端点可旋转（斜位）',
    'Keys: M/Esc back · X crosshairs · W window · P pan · Z zoom · ↑↓ scroll · R reset · I invert · 1–5 presets · drag a line end to rotate (oblique)',
  ],
  'no-series': ['请先选择一个序列', 'Choose a series first'],
  'no-webgl': ['多平面重建需要 WebGL，此浏览器不支持', 'MPR needs WebGL, which this browser lacks'],
  modality: ['多平面重建只用于 CT、MR、PET 序列', 'MPR is for CT, MR and PET series'],
  slices: ['层数太少，无法重建（至少 10 层）', 'Too few slices to reformat (10 at least)'],
  geometry: ['各层方向或尺寸不一致，无法重建', 'The slices differ in orientation or size: cannot reformat'],
  spacing: ['层间距不均匀，无法重建', 'Uneven slice spacing: cannot reformat'],
  size: ['序列超出图像缓存，无法重建（地址中加 ?cache=MB 可增大缓存）', 'The series is larger than the image cache: cannot reformat (?cache=MB in the address raises it)'],
} as const;

export type LabelKey = keyof typeof LABELS;

export function label(key: LabelKey, vars: Record<string, string | number> = {}): string {
  const text: string = LABELS[key][lang() === 'zh' ? 0 : 1];
  return text.replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
}

/** What the toolbar's controls ask for. */
export interface MprActions {
  exit(): void;
  tool(tool: MprTool): void;
  preset(name: string): void;
  slab(thickness: number, mode: SlabMode): void;
  show3d(on: boolean): void;
  volumePreset(name: string): void;
  reset(): void;
  /** A cell was pressed: it becomes the one keys act on. */
  activate(cell: Cell): void;
}

/** What the toolbar shows as chosen. */
export interface ToolbarState {
  tool: MprTool;
  thickness: number;
  mode: SlabMode;
  show3d: boolean;
  volumePreset: string;
  volumePresets: string[];
}

/** One cell: the element Cornerstone renders into, and its overlay corners. */
export interface CellView {
  root: HTMLDivElement;
  element: HTMLDivElement;
  tl: HTMLDivElement;
  bl: HTMLDivElement;
  br: HTMLDivElement;
}

const PRESET_NAMES = ['default', 'soft', 'lung', 'bone', 'brain'] as const;
const TOOLS: MprTool[] = ['crosshairs', 'window', 'pan', 'zoom'];
const MODES: SlabMode[] = ['mip', 'minip', 'avg'];

export class MprView {
  readonly root: HTMLElement;
  readonly cells: Record<Cell, CellView>;
  private readonly toolbar = h('div', { class: 'toolbar mpr-toolbar', 'data-testid': 'mpr-toolbar' });
  private readonly loaded = h('span', { class: 'mpr-loaded', 'data-testid': 'mpr-loaded' });

  constructor(private readonly actions: MprActions) {
    const cell = (name: Cell): CellView => {
      const element = h('div', { class: 'cs' }) as HTMLDivElement;
      element.oncontextmenu = (e) => e.preventDefault();
      const corner = (c: string) => h('div', { class: `ov ${c}` }) as HTMLDivElement;
      const view = { element, tl: corner('tl'), bl: corner('bl'), br: corner('br') };
      const root = h('div', { class: `panel mpr-cell mpr-${name}`, 'data-mpr': name, onmousedown: () => actions.activate(name), onwheel: () => actions.activate(name) },
        element, view.tl, view.bl, view.br) as HTMLDivElement;
      view.tl.textContent = label(name);
      return { root, ...view };
    };
    this.cells = { axial: cell('axial'), sagittal: cell('sagittal'), coronal: cell('coronal'), volume: cell('volume') };
    this.root = h('section', { class: 'mpr', 'data-testid': 'mpr-view' },
      this.toolbar,
      h('div', { class: 'grid mpr-grid' }, ...Object.values(this.cells).map((c) => c.root)));
  }

  renderToolbar(s: ToolbarState): void {
    const a = this.actions;
    const button = (text: string, on: boolean, onclick: () => void, id: string) =>
      h('button', { class: on ? 'on' : '', 'data-testid': id, onclick }, text);
    const thickness = h('input', {
      type: 'number', min: 0, step: 1, value: s.thickness, 'data-testid': 'mpr-slab', title: `${label('slab')} (${label('mm')})`,
      onchange: (e: Event) => a.slab(Number((e.target as HTMLInputElement).value) || 0, s.mode),
    });
    const mode = h('select', { 'data-testid': 'mpr-blend', onchange: (e: Event) => a.slab(s.thickness, (e.target as HTMLSelectElement).value as SlabMode) },
      ...MODES.map((m) => h('option', { value: m, selected: m === s.mode }, label(m))));
    const presets = h('select', { 'data-testid': 'mpr-volume-preset', disabled: !s.show3d, onchange: (e: Event) => a.volumePreset((e.target as HTMLSelectElement).value) },
      ...s.volumePresets.map((p) => h('option', { value: p, selected: p === s.volumePreset }, p)));
    this.toolbar.replaceChildren(
      h('span', { class: 'group' }, button(`← ${label('back')}`, false, () => a.exit(), 'mpr-exit')),
      h('span', { class: 'group' }, ...TOOLS.map((t) => button(label(t), s.tool === t, () => a.tool(t), `mpr-tool-${t}`))),
      h('span', { class: 'group' }, `${label('presets')}:`, ...PRESET_NAMES.map((p) => button(label(p), false, () => a.preset(p), `mpr-preset-${p}`))),
      h('span', { class: 'group' }, `${label('slab')}:`, thickness, label('mm'), mode),
      h('span', { class: 'group' }, button(s.show3d ? label('hide3d') : label('show3d'), s.show3d, () => a.show3d(!s.show3d), 'mpr-3d'), presets),
      h('span', { class: 'group' }, button(label('reset'), false, () => a.reset(), 'mpr-reset'), this.loaded),
      h('span', { class: 'hint' }, label('hint')),
    );
  }

  setLoaded(arrived: number, total: number): void {
    this.loaded.textContent = arrived < total ? label('loaded', { n: arrived, m: total }) : '';
  }

  activate(cell: Cell): void {
    for (const [name, c] of Object.entries(this.cells)) c.root.classList.toggle('active', name === cell);
  }

  /** The 3D cell without its viewport: what is not shown and a button to show it. */
  placeholder(on: boolean): void {
    const c = this.cells.volume;
    c.root.classList.toggle('off', !on);
    c.bl.replaceChildren(...(on ? [] : [h('div', {}, label('off3d'))]));
  }
}

/** A transient message over `host` (why MPR did not open). */
export function note(host: HTMLElement, text: string): void {
  host.querySelector('.mpr-note')?.remove();
  const el = h('div', { class: 'mpr-note', 'data-testid': 'mpr-note', role: 'status' }, text);
  host.append(el);
  setTimeout(() => el.remove(), 4000);
}
