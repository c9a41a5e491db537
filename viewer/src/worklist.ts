// The worklist: QIDO-RS study search with the filters a radiologist uses,
// sortable columns and paging through large results.

import { DicomJson, DicomWeb, STUDY_FIELDS, T, formatDate, num, personName, str, toDicomDate, values } from './dicomweb';
import { clear, h } from './dom';
import { t } from './i18n';

const PAGE_SIZE = 25;

export interface Filters {
  name: string;
  patientId: string;
  accession: string;
  dateFrom: string;
  dateTo: string;
  modality: string;
  institution: string;
}

interface Column {
  key: string;
  label: () => string;
  value: (s: DicomJson) => string | number;
}

const COLUMNS: Column[] = [
  { key: 'name', label: () => t('colName'), value: (s) => personName(s, T.PatientName) },
  { key: 'id', label: () => t('colId'), value: (s) => str(s, T.PatientID) },
  { key: 'birth', label: () => t('colBirth'), value: (s) => formatDate(str(s, T.PatientBirthDate)) },
  { key: 'date', label: () => t('colDate'), value: (s) => formatDate(str(s, T.StudyDate)) },
  { key: 'description', label: () => t('colDescription'), value: (s) => str(s, T.StudyDescription) },
  { key: 'modalities', label: () => t('colModalities'), value: (s) => values(s, T.ModalitiesInStudy).join('/') },
  { key: 'accession', label: () => t('colAccession'), value: (s) => str(s, T.AccessionNumber) },
  { key: 'institution', label: () => t('colInstitution'), value: (s) => str(s, T.InstitutionName) || str(s, T.IssuerOfPatientID) },
  { key: 'series', label: () => t('colSeries'), value: (s) => num(s, T.NumberOfStudyRelatedSeries) ?? '' },
  { key: 'instances', label: () => t('colInstances'), value: (s) => num(s, T.NumberOfStudyRelatedInstances) ?? '' },
];

/** The QIDO-RS parameters for a set of filters. */
export function studyQuery(f: Filters, offset: number): Record<string, string | number | undefined> {
  const q: Record<string, string | number | undefined> = {
    includefield: STUDY_FIELDS,
    limit: PAGE_SIZE + 1,
    offset,
  };
  const name = f.name.trim();
  if (name) {
    q.PatientName = nameQuery(name);
  }
  if (f.patientId.trim()) q.PatientID = f.patientId.trim();
  if (f.accession.trim()) q.AccessionNumber = f.accession.trim();
  if (f.dateFrom || f.dateTo) q.StudyDate = `${toDicomDate(f.dateFrom)}-${toDicomDate(f.dateTo)}`;
  if (f.modality) q.ModalitiesInStudy = f.modality;
  if (f.institution.trim()) q.InstitutionName = `*${f.institution.trim()}*`;
  return q;
}

/**
 * PatientName matching for what a user types. The server matches each
 * component group (`Wang^Wei`, `王^伟`) by prefix: `wang` and `王` both find
 * Wang^Wei=王^伟; a space separates family and given names. Hanzi typed
 * without a separator (`王伟`, `欧阳娜`) may split anywhere, so every
 * character boundary may hold the `^`.
 */
export function nameQuery(typed: string): string {
  const value = typed.trim().replace(/\s+/g, '^');
  if (/[*?]/.test(value)) return value;
  if (!value.includes('^') && /\p{Script=Han}/u.test(value)) return `${[...value].join('*')}*`;
  return `${value}*`;
}

export class Worklist {
  private filters: Filters = { name: '', patientId: '', accession: '', dateFrom: '', dateTo: '', modality: '', institution: '' };
  private offset = 0;
  private rows: DicomJson[] = [];
  private more = false;
  private sort: { key: string; dir: 1 | -1 } = { key: 'date', dir: -1 };
  private table = h('tbody');
  private status = h('div', { class: 'status', 'data-testid': 'worklist-status' });
  private pager = h('div', { class: 'pager' });
  /** The latest search asked for; an earlier one answering later is dropped. */
  private asked = 0;

  constructor(private web: DicomWeb, private open: (study: string) => void) {}

  render(root: HTMLElement, initial?: Partial<Filters>): void {
    Object.assign(this.filters, initial);
    clear(root);
    const input = (key: keyof Filters, label: string, type = 'text') =>
      h('label', {}, label, h('input', {
        type, name: key, value: this.filters[key], 'data-testid': `filter-${key}`,
        oninput: (e: Event) => { this.filters[key] = (e.target as HTMLInputElement).value; },
      }));
    const modality = h('select', {
      name: 'modality', 'data-testid': 'filter-modality',
      onchange: (e: Event) => { this.filters.modality = (e.target as HTMLSelectElement).value; },
    }, h('option', { value: '' }, t('any')), ...['CT', 'MR', 'CR', 'DX', 'US', 'MG', 'PT', 'NM', 'XA', 'RF', 'OT'].map((m) =>
      h('option', { value: m, selected: this.filters.modality === m }, m)));
    const form = h('form', {
      class: 'filters',
      onsubmit: (e: Event) => { e.preventDefault(); this.offset = 0; void this.search(); },
    },
      input('name', t('patientName')),
      input('patientId', t('patientId')),
      input('accession', t('accession')),
      input('dateFrom', t('dateFrom'), 'date'),
      input('dateTo', t('dateTo'), 'date'),
      h('label', {}, t('modality'), modality),
      input('institution', t('institution')),
      h('button', { type: 'submit', 'data-testid': 'search' }, t('search')),
    );
    const head = h('tr', {}, ...COLUMNS.map((c) => h('th', {
      'data-sort': c.key,
      class: this.sort.key === c.key ? (this.sort.dir > 0 ? 'sorted asc' : 'sorted desc') : '',
      onclick: () => this.sortBy(c.key),
    }, c.label())));
    root.append(
      h('section', { class: 'worklist' },
        h('h1', {}, t('worklist')),
        form,
        this.status,
        h('table', { 'data-testid': 'worklist' }, h('thead', {}, head), this.table),
        this.pager,
      ),
    );
    void this.search();
  }

  private sortBy(key: string): void {
    this.sort = { key, dir: this.sort.key === key ? (-this.sort.dir as 1 | -1) : 1 };
    document.querySelectorAll('th[data-sort]').forEach((th) => {
      const k = (th as HTMLElement).dataset.sort;
      th.className = k === key ? (this.sort.dir > 0 ? 'sorted asc' : 'sorted desc') : '';
    });
    this.fill();
  }

  async search(): Promise<void> {
    const asked = ++this.asked;
    this.status.textContent = t('loading');
    this.table.setAttribute('aria-busy', 'true');
    try {
      const found = await this.web.search('/studies', studyQuery(this.filters, this.offset));
      if (asked !== this.asked) return;
      this.more = found.length > PAGE_SIZE;
      this.rows = found.slice(0, PAGE_SIZE);
      this.status.textContent = this.rows.length ? t('results', { n: this.offset + this.rows.length + (this.more ? '+' : '') }) : t('noResults');
    } catch (e) {
      if (asked !== this.asked) return;
      this.rows = [];
      this.more = false;
      this.status.textContent = t('error', { m: (e as Error).message });
    }
    this.table.removeAttribute('aria-busy');
    this.fill();
  }

  private fill(): void {
    const col = COLUMNS.find((c) => c.key === this.sort.key) ?? COLUMNS[0];
    const sorted = [...this.rows].sort((a, b) => {
      const x = col.value(a);
      const y = col.value(b);
      return (typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), 'zh-CN')) * this.sort.dir;
    });
    clear(this.table);
    for (const s of sorted) {
      const uid = str(s, T.StudyInstanceUID);
      this.table.append(h('tr', {
        'data-study': uid, tabindex: 0,
        onclick: () => this.open(uid),
        onkeydown: (e: Event) => { if ((e as KeyboardEvent).key === 'Enter') this.open(uid); },
      }, ...COLUMNS.map((c) => h('td', { 'data-col': c.key }, String(c.value(s))))));
    }
    clear(this.pager);
    const pageNumber = Math.floor(this.offset / PAGE_SIZE) + 1;
    this.pager.append(
      h('button', {
        disabled: this.offset === 0, 'data-testid': 'previous',
        onclick: () => { this.offset = Math.max(0, this.offset - PAGE_SIZE); void this.search(); },
      }, t('previous')),
      h('span', {}, t('page', { n: pageNumber })),
      h('button', {
        disabled: !this.more, 'data-testid': 'next',
        onclick: () => { this.offset += PAGE_SIZE; void this.search(); },
      }, t('next')),
    );
  }
}
