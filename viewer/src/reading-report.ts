// The report panel of a reading request: template, findings, impression,
// critical finding (危急值), key images (the image shown), measurements
// (a length drawn with the reader's length tool, read from the
// annotation's cached statistics, with its two ends in pixels for the
// presentation state the server makes), and the server's actions on them:
// save draft, submit for review, sign the version shown, amend a signed
// report. What may be done is what the detail says (`may_write`,
// `may_sign`); the server decides, its refusals are shown.

import { Types as CoreTypes, utilities as coreUtils } from '@cornerstonejs/core';
import * as tools from '@cornerstonejs/tools';
import { ApiError } from './api';
import { T, num, str } from './dicomweb';
import { h } from './dom';
import { KeyImage, Measurement, READING_MAY, ReadingState, ReportContent, RequestDetail, Template, reading } from './reading-api';
import { rl } from './reading-i18n';
import { Who, may } from './session';
import type { Reader } from './viewer';

export interface EditorContext {
  detail: RequestDetail;
  templates: Template[];
  who: Who;
  reader: () => Reader | undefined;
  state: ReadingState;
  /** Show a message: a refusal (`error`) or what was done. */
  say: (message: string, error?: boolean) => void;
  /** Fetch the request again and show it. */
  reload: () => Promise<void>;
  /** Length annotations already added (their UIDs), kept across renders. */
  added: Set<string>;
}

/** An error as the panel shows it: the server's status and message. */
export function refusal(e: unknown): string {
  return e instanceof ApiError && e.status ? `${e.status}: ${e.message}` : String((e as Error).message ?? e);
}

const empty = (): ReportContent => ({ template_id: '', findings: '', impression: '', critical: false, measurements: [], key_images: [] });

/** The version being written: the current one not signed yet. */
export function unsigned(detail: RequestDetail) {
  return detail.reports.find((r) => r.current && r.signed_ms === null);
}

/** The image the reader shows of `study`, or why there is none. */
function shownImage(reader: Reader | undefined, study: string): KeyImage | string {
  const panel = reader?.active;
  if (!panel?.series || !panel.viewport?.getCurrentImageId()) return rl('noImage');
  if (panel.study?.uid !== study) return rl('notThisStudy');
  const at = panel.series.frames[panel.state().index];
  if (!at) return rl('noImage');
  return imageOf(panel.series.uid, at.instance, at.frame);
}

function imageOf(series: string, instance: Record<string, unknown>, frame: number): KeyImage {
  const frames = num(instance as never, T.NumberOfFrames) ?? 1;
  const k: KeyImage = { series_instance_uid: series, sop_instance_uid: str(instance as never, T.SOPInstanceUID) };
  if (frames > 1) k.frame = frame;
  return k;
}

/** A length's ends in pixels (column, row; the top left pixel's centre is 0.5, 0.5, as in DICOM GraphicData). */
function pixelPoints(imageId: string, world: CoreTypes.Point3[]): [number, number][] {
  const pixel = (v: number) => Math.max(0, Math.round(v * 100) / 100);
  try {
    const image = world.map((p) => coreUtils.worldToImageCoords(imageId, p));
    if (image.every((p) => p)) return image.map((p) => [pixel(p![0]), pixel(p![1])]);
  } catch {
    // no geometry for the image
  }
  // Without the image's geometry there is no graphic, only the value.
  return [];
}

/** The last length drawn on `study` not added yet: its value, image and ends, or why there is none. */
function lastLength(reader: Reader | undefined, study: string, added: Set<string>):
  { uid: string; value: number; image: KeyImage; points: [number, number][] } | string {
  const lengths = tools.annotation.state.getAllAnnotations()
    .filter((a) => a.metadata?.toolName === tools.LengthTool.toolName && a.annotationUID && !added.has(a.annotationUID));
  const a = lengths[lengths.length - 1];
  if (!a) return rl('noLength');
  const stats = Object.values((a.data.cachedStats ?? {}) as Record<string, { length?: number; unit?: string }>)[0];
  if (typeof stats?.length !== 'number') return rl('noLength');
  if (stats.unit !== 'mm') return rl('notMm');
  const imageId = a.metadata?.referencedImageId;
  for (const panel of reader?.panels ?? []) {
    const i = imageId && panel.series ? panel.series.imageIds.indexOf(imageId) : -1;
    if (i < 0) continue;
    if (panel.study?.uid !== study) return rl('notThisStudy');
    const at = panel.series!.frames[i];
    const ends = (a.data.handles?.points ?? []) as CoreTypes.Point3[];
    return {
      uid: a.annotationUID!, value: Math.round(stats.length * 10) / 10, image: imageOf(panel.series!.uid, at.instance, at.frame),
      points: ends.length === 2 ? pixelPoints(imageId!, ends) : [],
    };
  }
  return rl('notThisStudy');
}

/** The report as the reader of `ctx` may see or write it. */
export function reportPanel(ctx: EditorContext): HTMLElement {
  const { detail } = ctx;
  const r = detail.request;
  const box = h('div', { class: 'rd-report', 'data-testid': 'reading-report' });
  const current = unsigned(detail);
  if (detail.may_write) {
    box.append(editor(ctx, current?.content ?? empty()));
  } else if (current) {
    box.append(readOnly(current.content), actions(ctx, false, () => false, () => current.content));
  } else if (detail.side === 'requesting' && !r.signed_ms && r.status !== 'cancelled') {
    // The requesting institution waits for the reading centre's report.
    box.append(h('p', { class: 'muted', 'data-testid': 'reading-awaiting-report' }, rl('awaitingReport')));
  } else if (r.status === 'new' || r.status === 'claimed') {
    box.append(h('p', { class: 'muted' }, r.status === 'new' ? rl('claimFirst') : rl('notWritable')));
  }
  box.append(amendForm(ctx));
  return box;
}

/** A report's content, read-only. */
export function readOnly(c: ReportContent, testid = 'reading-report-text'): HTMLElement {
  return h('div', { class: 'rd-text', 'data-testid': testid },
    c.critical ? h('p', { class: 'rd-critical', 'data-testid': `${testid}-critical` }, `⚠ ${rl('critical')}`) : null,
    h('h3', {}, rl('findings')), h('p', { class: 'rd-pre', 'data-testid': `${testid}-findings` }, c.findings),
    h('h3', {}, rl('impression')), h('p', { class: 'rd-pre', 'data-testid': `${testid}-impression` }, c.impression),
    c.measurements.length ? h('ul', {}, ...c.measurements.map((m) => h('li', {}, `${m.label}: ${m.value} ${m.unit}`))) : null,
    h('p', { class: 'muted' }, `${rl('keyImages')}: ${c.key_images.length}`));
}

function editor(ctx: EditorContext, initial: ReportContent): HTMLElement {
  const { detail, state } = ctx;
  const r = detail.request;
  const c: ReportContent = JSON.parse(JSON.stringify(initial));
  let dirty = false;
  const changed = () => { dirty = true; state.draft = c; };
  state.draft = c;

  const suited = (t: Template) => t.modality.toUpperCase() === r.modality.toUpperCase()
    && (!t.body_part || t.body_part.toUpperCase() === r.body_part.toUpperCase());
  const ordered = [...ctx.templates.filter(suited), ...ctx.templates.filter((t) => !suited(t))];
  const template = h('select', { 'data-testid': 'reading-template' },
    h('option', { value: '' }, rl('chooseTemplate')),
    ...ordered.map((t) => h('option', { value: t.id, selected: t.id === c.template_id },
      `${t.name} (${t.modality}${t.body_part ? ` ${t.body_part}` : ''})${suited(t) ? ` · ${rl('suggested')}` : ''}`)));
  const findings = h('textarea', { rows: 8, 'data-testid': 'reading-findings' }) as HTMLTextAreaElement;
  const impression = h('textarea', { rows: 4, 'data-testid': 'reading-impression' }) as HTMLTextAreaElement;
  findings.value = c.findings;
  impression.value = c.impression;
  findings.oninput = () => { c.findings = findings.value; changed(); };
  impression.oninput = () => { c.impression = impression.value; changed(); };
  template.onchange = () => {
    const t = ctx.templates.find((x) => x.id === template.value);
    if (!t) return;
    const written = (c.findings.trim() || c.impression.trim()) && !ctx.templates.some((x) => x.findings === c.findings && x.impression === c.impression);
    if (written && !window.confirm(rl('replaceText'))) {
      template.value = c.template_id;
      return;
    }
    c.template_id = t.id;
    c.findings = findings.value = t.findings;
    c.impression = impression.value = t.impression;
    changed();
  };
  const critical = h('input', { type: 'checkbox', 'data-testid': 'reading-critical', checked: c.critical }) as HTMLInputElement;
  critical.onchange = () => { c.critical = critical.checked; changed(); };

  const keyList = h('ul', { class: 'rd-list', 'data-testid': 'reading-key-images' });
  const showKeys = () => {
    keyList.replaceChildren(...(c.key_images.length ? c.key_images.map((k, i) =>
      h('li', { 'data-testid': 'reading-key-image', 'data-sop': k.sop_instance_uid },
        h('span', { class: 'rd-uid', title: k.sop_instance_uid }, `${i + 1}. …${k.sop_instance_uid.slice(-12)}${k.frame ? ` #${k.frame}` : ''}`),
        h('button', { type: 'button', class: 'small', onclick: () => { c.key_images.splice(i, 1); changed(); showKeys(); } }, rl('remove'))))
      : [h('li', { class: 'muted' }, rl('noKey'))]));
  };
  showKeys();
  const markKey = h('button', {
    type: 'button', 'data-testid': 'reading-mark-key',
    onclick: () => {
      const k = shownImage(ctx.reader(), r.study_instance_uid);
      if (typeof k === 'string') return ctx.say(k, true);
      if (c.key_images.some((x) => x.sop_instance_uid === k.sop_instance_uid && (x.frame ?? null) === (k.frame ?? null))) return ctx.say(rl('already'), true);
      c.key_images.push(k);
      changed();
      showKeys();
    },
  }, rl('markKey'));

  const measureList = h('ul', { class: 'rd-list', 'data-testid': 'reading-measurements' });
  const showMeasurements = () => {
    measureList.replaceChildren(...c.measurements.map((m: Measurement, i) =>
      h('li', { 'data-testid': 'reading-measurement', 'data-value': m.value, 'data-unit': m.unit, 'data-points': JSON.stringify(m.points ?? []) },
        `${m.label}: ${m.value} ${m.unit}`,
        h('button', { type: 'button', class: 'small', onclick: () => { c.measurements.splice(i, 1); changed(); showMeasurements(); } }, rl('remove')))));
  };
  showMeasurements();
  const label = h('input', { value: rl('defaultLabel'), maxlength: 64, size: 10, 'data-testid': 'reading-measurement-label' }) as HTMLInputElement;
  const addLength = h('button', {
    type: 'button', 'data-testid': 'reading-add-measurement', title: rl('lengthHint'),
    onclick: () => {
      const found = lastLength(ctx.reader(), r.study_instance_uid, ctx.added);
      if (typeof found === 'string') return ctx.say(found, true);
      ctx.added.add(found.uid);
      c.measurements.push({ label: label.value.trim() || rl('defaultLabel'), value: found.value, unit: 'mm', image: found.image, points: found.points });
      changed();
      showMeasurements();
    },
  }, rl('addLength'));

  return h('form', { class: 'rd-form', onsubmit: (e: Event) => e.preventDefault() },
    h('label', {}, rl('template'), template),
    h('label', {}, rl('findings'), findings),
    h('label', {}, rl('impression'), impression),
    h('label', { class: 'inline rd-critical-box' }, critical, ' ', rl('critical'), h('span', { class: 'muted' }, ` · ${rl('criticalHint')}`)),
    h('h3', {}, rl('keyImages')), keyList, markKey,
    h('h3', {}, rl('measurements')), measureList,
    h('div', { class: 'rd-row' }, h('label', {}, rl('label'), label), addLength),
    h('p', { class: 'muted' }, rl('lengthHint')),
    actions(ctx, true, () => dirty, () => c));
}

/** Save, submit, sign: as far as the detail allows. */
function actions(ctx: EditorContext, writing: boolean, dirty: () => boolean, content: () => ReportContent): HTMLElement {
  const { detail } = ctx;
  const id = detail.request.request_id;
  const run = (button: HTMLButtonElement, call: () => Promise<string>) => async () => {
    button.disabled = true;
    try {
      ctx.say(await call());
      await ctx.reload();
    } catch (e) {
      ctx.say(refusal(e), true);
      button.disabled = false;
    }
  };
  const row = h('div', { class: 'rd-row rd-buttons' });
  if (writing) {
    const save = h('button', { type: 'button', 'data-testid': 'reading-save' }, rl('save'));
    save.onclick = run(save, async () => rl('saved', { v: (await reading.save(id, content(), false)).version }));
    row.append(save);
    if (detail.request.status === 'claimed' || detail.request.status === 'draft') {
      const submit = h('button', { type: 'button', class: 'primary', 'data-testid': 'reading-submit' }, rl('submit'));
      submit.onclick = run(submit, async () => { await reading.save(id, content(), true); return rl('submitted'); });
      row.append(submit);
    }
  }
  const current = unsigned(detail);
  const version = current?.version;
  if (detail.may_sign && current && version !== undefined) {
    const sign = h('button', { type: 'button', class: 'primary', 'data-testid': 'reading-sign', 'data-version': version }, rl('signVersion', { v: version }));
    sign.onclick = async () => {
      if (dirty()) return ctx.say(rl('unsaved'), true);
      await run(sign, async () => rl('signedDone', { v: (await reading.sign(id, version, current.updated_ms)).version }))();
    };
    row.append(sign);
  }
  return row;
}

/** Amending a signed report: a reason, then a new version to write. */
function amendForm(ctx: EditorContext): HTMLElement | string {
  const r = ctx.detail.request;
  const mine = ctx.who.kind === 'signed-in' && ctx.who.principal.institution === r.reading;
  if (!mine || !may(ctx.who, READING_MAY.sign) || !['signed', 'returned'].includes(r.status)) return '';
  const reason = h('textarea', { rows: 2, maxlength: 1000, 'data-testid': 'reading-amend-reason' }) as HTMLTextAreaElement;
  const button = h('button', { type: 'button', 'data-testid': 'reading-amend' }, rl('amend'));
  button.onclick = async () => {
    if (!reason.value.trim()) return ctx.say(rl('reasonNeeded'), true);
    button.disabled = true;
    try {
      const v = await reading.amend(r.request_id, reason.value.trim());
      ctx.say(rl('amended', { v: v.version }));
      await ctx.reload();
    } catch (e) {
      ctx.say(refusal(e), true);
      button.disabled = false;
    }
  };
  return h('details', { class: 'rd-amend', 'data-testid': 'reading-amend-form' },
    h('summary', {}, rl('amend')), h('label', {}, rl('amendReason'), reason), button);
}
