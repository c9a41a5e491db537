// Reading comfort around the reader (viewer.ts): the DICOM tag browser of
// the image shown, export of a view as PNG or JPEG (with the annotations
// burned in or without), full screen, cine speed and moving between series
// from the keyboard.

import { DicomJson, T, str } from './dicomweb';
import { h } from './dom';
import { t } from './i18n';
import type { Panel } from './panel';
import { TAG_NAMES } from './tagnames';

/** Cine speeds offered, in frames per second. */
export const CINE_SPEEDS = [5, 10, 15, 20, 30, 45, 60];

/** The next (or previous, `step` −1) cine speed, clamped to the list. */
export function nextSpeed(fps: number, step: 1 | -1): number {
  const i = CINE_SPEEDS.findIndex((s) => s >= fps);
  const at = i < 0 ? CINE_SPEEDS.length - 1 : i;
  return CINE_SPEEDS[Math.max(0, Math.min(CINE_SPEEDS.length - 1, at + step))];
}

/** One line of the tag browser. */
export interface TagLine {
  tag: string;
  vr: string;
  name: string;
  value: string;
  depth: number;
}

/** Most characters of one value shown (pixel data and long texts are cut). */
const MAX_VALUE = 200;

/** The dataset as lines, sequences expanded (items indented), in tag order. */
export function tagLines(json: DicomJson, depth = 0): TagLine[] {
  const out: TagLine[] = [];
  for (const tag of Object.keys(json).sort()) {
    const el = json[tag] as { vr?: string; Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string };
    const vr = el?.vr ?? '';
    const tagText = `(${tag.slice(0, 4)},${tag.slice(4)})`;
    const name = TAG_NAMES[tag.toUpperCase()] ?? (parseInt(tag.slice(0, 4), 16) % 2 ? t('privateTag') : '');
    if (vr === 'SQ') {
      const items = (el.Value ?? []) as DicomJson[];
      out.push({ tag: tagText, vr, name, value: `${items.length} ${t('items')}`, depth });
      for (const item of items) out.push(...tagLines(item, depth + 1));
      continue;
    }
    out.push({ tag: tagText, vr, name, value: valueText(vr, el), depth });
  }
  return out;
}

function valueText(vr: string, el: { Value?: unknown[]; InlineBinary?: string; BulkDataURI?: string }): string {
  if (el.BulkDataURI) return t('bulkData');
  if (el.InlineBinary) return `${t('binary')} (${Math.floor((el.InlineBinary.length * 3) / 4)} B)`;
  const values = (el.Value ?? []).map((v) => {
    if (vr === 'PN' && v && typeof v === 'object') {
      const p = v as { Alphabetic?: string; Ideographic?: string; Phonetic?: string };
      return [p.Alphabetic, p.Ideographic, p.Phonetic].filter((x) => x !== undefined).join('=');
    }
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  });
  const text = values.join('\\');
  return text.length > MAX_VALUE ? `${text.slice(0, MAX_VALUE)}…` : text;
}

/** The instance whose frame the panel shows. */
export function shownInstance(panel: Panel): DicomJson | undefined {
  const index = panel.viewport?.getCurrentImageIdIndex() ?? -1;
  return panel.series?.frames[index]?.instance;
}

/** Open the tag browser of the image the panel shows, with a filter on tag, name and value. */
export function openTagBrowser(panel: Panel): HTMLDialogElement | undefined {
  const instance = shownInstance(panel);
  if (!instance) return undefined;
  document.querySelector('dialog.tags')?.remove();
  const lines = tagLines(instance);
  const body = h('tbody');
  const render = (filter: string) => {
    const f = filter.trim().toLowerCase();
    body.replaceChildren(...lines
      .filter((l) => !f || `${l.tag} ${l.name} ${l.value}`.toLowerCase().includes(f))
      .map((l) => h('tr', { 'data-tag': l.tag },
        h('td', { class: 'mono', style: `padding-left:${0.3 + l.depth * 1.2}em` }, l.tag),
        h('td', { class: 'mono' }, l.vr), h('td', {}, l.name), h('td', { class: 'value' }, l.value))));
  };
  const filter = h('input', { type: 'search', placeholder: t('filterTags'), 'data-testid': 'tag-filter', oninput: () => render(filter.value) });
  const dialog = h('dialog', { class: 'tags', 'data-testid': 'tag-browser' },
    h('header', {},
      h('strong', {}, `${t('tags')} · ${str(instance, T.SOPInstanceUID)}`),
      filter,
      h('button', { 'data-testid': 'tag-close', onclick: () => { dialog.close(); dialog.remove(); } }, '×')),
    h('div', { class: 'scroll' }, h('table', {}, h('thead', {}, h('tr', {}, h('th', {}, t('tag')), h('th', {}, 'VR'), h('th', {}, t('tagName')), h('th', {}, t('tagValue')))), body)));
  render('');
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}

export type ExportFormat = 'png' | 'jpeg';

/**
 * The view of a panel as an image: the viewport's canvas at its pixel
 * size, with the annotation layer (Cornerstone's SVG: lengths, ROIs and
 * their text) drawn over it when `annotations` is set.
 */
export async function viewImage(panel: Panel, format: ExportFormat, annotations: boolean): Promise<Blob> {
  const source = panel.element.querySelector('canvas');
  if (!source) throw new Error('no canvas');
  const out = document.createElement('canvas');
  out.width = source.width;
  out.height = source.height;
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.drawImage(source, 0, 0);
  const svg = panel.element.querySelector('svg');
  if (annotations && svg) {
    const copy = svg.cloneNode(true) as SVGSVGElement;
    const box = svg.getBoundingClientRect();
    copy.setAttribute('xmlns', 'http://www.w3.org/2000/svg');
    copy.setAttribute('width', String(box.width));
    copy.setAttribute('height', String(box.height));
    const url = URL.createObjectURL(new Blob([new XMLSerializer().serializeToString(copy)], { type: 'image/svg+xml' }));
    try {
      const img = new Image();
      await new Promise<void>((resolve, reject) => {
        img.onload = () => resolve();
        img.onerror = () => reject(new Error('annotation layer'));
        img.src = url;
      });
      ctx.drawImage(img, 0, 0, out.width, out.height);
    } finally {
      URL.revokeObjectURL(url);
    }
  }
  return new Promise((resolve, reject) =>
    out.toBlob((b) => (b ? resolve(b) : reject(new Error('export'))), `image/${format}`, 0.92));
}

/** Save the view as a file: `{patient-free name}-{series}-{image}.{png|jpg}`. */
export async function downloadView(panel: Panel, format: ExportFormat, annotations: boolean): Promise<void> {
  const blob = await viewImage(panel, format, annotations);
  const index = (panel.viewport?.getCurrentImageIdIndex() ?? 0) + 1;
  const a = h('a', { href: URL.createObjectURL(blob), download: `view-S${panel.series?.number ?? ''}-${index}.${format === 'jpeg' ? 'jpg' : 'png'}` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

/** The export menu: format and whether annotations are burned in. */
export function exportControls(panel: () => Panel): HTMLElement {
  const format = h('select', { 'data-testid': 'export-format', title: t('exportFormat') },
    h('option', { value: 'png' }, 'PNG'), h('option', { value: 'jpeg' }, 'JPEG'));
  const burn = h('input', { type: 'checkbox', checked: true, 'data-testid': 'export-annotations' });
  return h('span', { class: 'export' },
    h('button', { 'data-testid': 'export', onclick: () => void downloadView(panel(), format.value as ExportFormat, burn.checked) }, t('export')),
    format, h('label', {}, burn, t('withAnnotations')));
}

/** Full screen for the reading area (Esc leaves). */
export function toggleFullscreen(element: HTMLElement): void {
  if (document.fullscreenElement) void document.exitFullscreen();
  else void element.requestFullscreen?.().catch(() => undefined);
}
