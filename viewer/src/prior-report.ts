// The prior's report beside the prior: when a viewport shows a prior study
// that holds a report (a Basic, Enhanced or Comprehensive SR with text,
// such as a signed remote-reading report, or an encapsulated PDF), its
// findings and impression are shown in a collapsible panel over that
// viewport. Standard DICOMweb only: QIDO-RS for the study's SR and DOC
// series, WADO-RS metadata for the SR content tree.

import { DicomJson, DicomWeb, T, formatDate, str } from './dicomweb';
import { h } from './dom';
import { t } from './i18n';
import type { Panel } from './panel';

const TEXT_SR = new Set([
  '1.2.840.10008.5.1.4.1.1.88.11', // Basic Text SR
  '1.2.840.10008.5.1.4.1.1.88.22', // Enhanced SR
  '1.2.840.10008.5.1.4.1.1.88.33', // Comprehensive SR
  '1.2.840.10008.5.1.4.1.1.88.34', // Comprehensive 3D SR
]);
const PDF = '1.2.840.10008.5.1.4.1.1.104.1';
/** Document titles that are measurements, not a report (TID 1500). */
const NOT_REPORTS = new Set(['126000']);

const TAG = {
  ContentSequence: '0040A730',
  ValueType: '0040A040',
  ConceptName: '0040A043',
  TextValue: '0040A160',
  ConceptCode: '0040A168',
  CodeValue: '00080100',
  CodeMeaning: '00080104',
  ContentDate: '00080023',
  ContentTime: '00080033',
  DocumentTitle: '00420010',
};

export interface ReportSection {
  heading: string;
  text: string;
}

export interface PriorReport {
  study: string;
  sop: string;
  kind: 'sr' | 'pdf';
  title: string;
  date: string;
  sections: ReportSection[];
}

const items = (j: DicomJson | undefined, tag: string) => ((j?.[tag]?.Value ?? []) as DicomJson[]);
const meaning = (j: DicomJson, tag: string) => str(items(j, tag)[0] ?? {}, TAG.CodeMeaning);

/** The text of an SR content tree: one section per container (or text item) with a name. */
export function srSections(root: DicomJson): ReportSection[] {
  const sections: ReportSection[] = [];
  // Text under a named section (Findings, Impression) is that section's;
  // text items at the top are headed by their own names.
  const walk = (node: DicomJson, heading: string, depth: number) => {
    for (const item of items(node, TAG.ContentSequence)) {
      const type = str(item, TAG.ValueType);
      const name = meaning(item, TAG.ConceptName);
      if (type === 'CONTAINER') {
        walk(item, name || heading, depth + 1);
        continue;
      }
      let text = '';
      if (type === 'TEXT') text = str(item, TAG.TextValue);
      else if (type === 'CODE') text = meaning(item, TAG.ConceptCode);
      if (!text) continue;
      const last = sections[sections.length - 1];
      const label = depth === 0 ? name || heading : heading || name;
      if (last && last.heading === label) last.text += `\n${text}`;
      else sections.push({ heading: label, text });
    }
  };
  walk(root, meaning(root, TAG.ConceptName), 0);
  return sections;
}

const cache = new Map<string, Promise<PriorReport | undefined>>();

/** The newest report of `study` (SR with text first, else a PDF), or undefined. */
export function findReport(web: DicomWeb, study: string): Promise<PriorReport | undefined> {
  if (!cache.has(study)) cache.set(study, loadReport(web, study).catch(() => undefined));
  return cache.get(study)!;
}

async function loadReport(web: DicomWeb, study: string): Promise<PriorReport | undefined> {
  const series = (await Promise.all(['SR', 'DOC'].map((m) => web.search(`/studies/${study}/series`, { Modality: m }).catch(() => [])))).flat();
  const found: PriorReport[] = [];
  for (const s of series) {
    const instances = await web.seriesMetadata(study, str(s, T.SeriesInstanceUID)).catch(() => [] as DicomJson[]);
    for (const i of instances) {
      const sop = str(i, T.SOPClassUID);
      const date = `${str(i, TAG.ContentDate)}${str(i, TAG.ContentTime)}`;
      if (TEXT_SR.has(sop)) {
        const code = str(items(i, TAG.ConceptName)[0] ?? {}, TAG.CodeValue);
        const sections = srSections(i);
        if (NOT_REPORTS.has(code) || !sections.length) continue;
        found.push({ study, sop: str(i, T.SOPInstanceUID), kind: 'sr', title: meaning(i, TAG.ConceptName), date, sections });
      } else if (sop === PDF) {
        found.push({ study, sop: str(i, T.SOPInstanceUID), kind: 'pdf', title: str(i, TAG.DocumentTitle), date, sections: [] });
      }
    }
  }
  // Text first (an SR and its PDF twin are one report), newest first.
  found.sort((a, b) => (a.kind === b.kind ? b.date.localeCompare(a.date) : a.kind === 'sr' ? -1 : 1));
  return found[0];
}

/**
 * Put the report of each prior shown in `panels` over the first viewport
 * that shows it (and take it off viewports that show something else).
 */
export async function showPriorReports(web: DicomWeb, currentStudy: string, panels: Panel[]): Promise<void> {
  const placed = new Set<string>();
  for (const panel of panels) {
    const existing = panel.root.querySelector<HTMLElement>('.prior-report');
    const study = panel.study?.uid;
    const wanted = study && study !== currentStudy && !placed.has(study) && panel.root.isConnected;
    if (existing && (!wanted || existing.dataset.study !== study)) existing.remove();
    if (!wanted) continue;
    placed.add(study);
    if (existing && existing.dataset.study === study) continue;
    const report = await findReport(web, study);
    if (!report || panel.study?.uid !== study || panel.root.querySelector('.prior-report')) continue;
    panel.root.append(render(report));
  }
}

function render(report: PriorReport): HTMLElement {
  const body = report.kind === 'sr'
    ? report.sections.map((s) => h('div', { class: 'section' }, h('strong', {}, s.heading), h('p', {}, s.text)))
    : [h('p', {}, `${t('priorReportPdf')} ${report.title}`)];
  const details = h('details', { class: 'prior-report', 'data-testid': 'prior-report', 'data-study': report.study, open: '' },
    h('summary', {}, `${t('priorReport')} ${formatDate(report.date.slice(0, 8))}`.trim()),
    h('div', { class: 'report-body' }, ...body));
  // Reading the report never scrolls or zooms the images below it.
  for (const e of ['mousedown', 'wheel', 'touchstart']) details.addEventListener(e, (ev) => ev.stopPropagation());
  return details;
}
