// The audit administrator's section of the administration page: the
// verifiable audit ledger (`/api/audit/events`, `/api/audit/checkpoints`,
// `/api/audit/proof`). A search form (study; patient = issuer + patient
// ID; person; institution; event kind; period), the results a page at a
// time (by `after`), the same search as CSV (a plain same-origin link: the
// session cookie goes with it), "who has seen this patient's images" and
// a printable patient access report, the ledger's latest checkpoint with
// "sign one now", and an offline proof of any row.
//
// Patient data goes into no address but the API query the auditor issues
// (GET is the API's method); the page's own address stays `#/admin`.

import { ApiError, api, apiUrl, formatTime } from './api';
import { clear, h } from './dom';
import { lang } from './i18n';
import { adminSection, attempt, field, table } from './admin';

/** One event of the ledger, as `/api/audit/events` answers. */
export interface LedgerRow {
  leaf_index: number;
  leaf_hash: string;
  event: {
    at_ms: number;
    event: string;
    result: string;
    principal: string;
    institution?: string;
    via?: string;
    client?: string;
    studies?: string[];
    detail?: string;
  };
}

interface Checkpoint {
  tree_size: number;
  root_hash: string;
  at_ms: number;
  note: string;
}

interface Checkpoints {
  log_key: string | null;
  checkpoints: Checkpoint[];
}

/** Events that show somebody reached a patient's images. */
export const SEEN_EVENTS = ['study-viewed', 'study-accessed', 'retrieve', 'dicomweb', 'break-glass', 'export', 'film-created', 'film-downloaded', 'film-viewed'];

/** Event kinds offered in the form (any other can be typed). */
const KINDS = [...SEEN_EVENTS, 'query', 'ingest', 'sign-in', 'audit-log-used', 'grant-revoked', 'roles-changed', 'study-deleted'];

const PAGE = 200;
/** The server's most events for one search (`MAX_EVENTS`): the CSV asks for all of them. */
const CSV_LIMIT = 10_000;

const LABELS = {
  audit: ['审计记录（可验证账本）', 'Audit record (verifiable ledger)'],
  ledger: ['账本', 'Ledger'],
  noCheckpoint: ['尚无签名检查点', 'No signed checkpoint yet'],
  checkpoint: ['最新检查点：{size} 条，{time}', 'Latest checkpoint: {size} entries, {time}'],
  root: ['根哈希', 'Root'],
  logKey: ['日志公钥', 'Log key'],
  sign: ['立即签名检查点', 'Sign checkpoint now'],
  signed: ['已签名：{size} 条', 'Signed: {size} entries'],
  study: ['检查 UID', 'Study UID'],
  issuer: ['患者所属机构', 'Patient\'s institution'],
  patientId: ['患者 ID', 'Patient ID'],
  principal: ['人员（主体）', 'Person (principal)'],
  institution: ['机构', 'Institution'],
  event: ['事件类型', 'Event kind'],
  any: ['全部', 'Any'],
  from: ['从', 'From'],
  to: ['至', 'To'],
  search: ['查询', 'Search'],
  clear: ['清空', 'Clear'],
  seen: ['谁看过此患者的影像', 'Who has seen this patient\'s images'],
  needPatient: ['请填写患者所属机构和患者 ID', 'Type the patient\'s institution and patient ID'],
  csv: ['下载 CSV', 'Download CSV'],
  report: ['患者访问报告', 'Patient access report'],
  next: ['下一页', 'Next'],
  first: ['第一页', 'First page'],
  count: ['{n} 条', '{n} events'],
  time: ['时间', 'Time'],
  result: ['结果', 'Result'],
  who: ['人员', 'Who'],
  through: ['途径', 'Through'],
  client: ['客户端', 'Client'],
  studies: ['检查', 'Studies'],
  detail: ['详情', 'Detail'],
  why: ['原因', 'Why'],
  proof: ['证明', 'Proof'],
  proofSaved: ['已下载 leaf-{n}.tlog-proof 和 leaf-{n}.entry；离线验证：', 'Downloaded leaf-{n}.tlog-proof and leaf-{n}.entry; check offline:'],
  refused: ['只有审计管理员可以查看审计记录。', 'Only the audit administrator may read the audit record.'],
  print: ['打印', 'Print'],
  back: ['返回', 'Back'],
  reportFor: ['患者：{issuer} / {id}', 'Patient: {issuer} / {id}'],
  reportMade: ['生成时间 {time}', 'Made {time}'],
  reportNone: ['没有访问记录', 'No access recorded'],
  reportProof: ['每一行都可以证明：leaf N（审计管理员可导出离线证明）。', 'Each row can be proven: leaf N (the audit administrator can export an offline proof).'],
  reportLedger: ['账本检查点：{size} 条，根 {root}，{time}', 'Ledger checkpoint: {size} entries, root {root}, {time}'],
  leaf: ['条目 (leaf)', 'Leaf'],
} as const;

function L(key: keyof typeof LABELS, vars: Record<string, string | number> = {}): string {
  let s: string = LABELS[key][lang() === 'zh' ? 0 : 1];
  for (const [k, v] of Object.entries(vars)) s = s.split(`{${k}}`).join(String(v));
  return s;
}

/** The search as the API takes it (empty fields left out). */
export function searchParams(f: Record<string, string>, after?: number): URLSearchParams {
  const p = new URLSearchParams();
  for (const k of ['study', 'patient_issuer', 'patient_id', 'principal', 'institution', 'event']) {
    const v = (f[k] ?? '').trim();
    if (v) p.set(k, v);
  }
  // Dates are the auditor's local days: from the start of `from` to the end of `to`.
  if (f.from) p.set('from_ms', String(new Date(`${f.from}T00:00:00`).getTime()));
  if (f.to) {
    const end = new Date(`${f.to}T00:00:00`);
    end.setDate(end.getDate() + 1);
    p.set('to_ms', String(end.getTime()));
  }
  if (after !== undefined && after >= 0) p.set('after', String(after));
  return p;
}

/** "grant:g1" → "grant g1"; sessions and films alike. */
function through(via: string | undefined): string {
  if (!via) return '';
  const [kind, rest] = via.split(/:(.*)/s);
  return rest === undefined ? via : `${kind} ${rest}`;
}

/** Save `text` as a file named `name` (a download, nothing in the address bar). */
function download(name: string, text: string, type = 'text/plain'): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/**
 * `attempt` with the server's refusal (403) said politely: only the audit
 * administrator may read the record. True when it worked.
 */
async function tryAudit(status: HTMLElement, fn: () => Promise<unknown>): Promise<boolean> {
  let refused = false;
  delete status.dataset.refused;
  const ok = await attempt(status, async () => {
    try {
      await fn();
    } catch (e) {
      refused = e instanceof ApiError && e.status === 403;
      throw e;
    }
  });
  if (refused) {
    status.textContent = L('refused');
    status.dataset.refused = 'true';
  }
  return ok;
}

export function auditSection(): HTMLElement {
  const { el, status, body } = adminSection('audit', L('audit'));
  let logKey = '';
  let latest: Checkpoint | null = null;

  // --- the ledger's status -------------------------------------------------
  const ledger = h('div', { class: 'audit-ledger', 'data-testid': 'audit-ledger' });
  const signStatus = h('span', { class: 'muted', 'data-testid': 'audit-sign-status' });
  const loadLedger = async () => {
    const c = await api<Checkpoints>('GET', '/api/audit/checkpoints');
    logKey = c.log_key ?? '';
    latest = c.checkpoints.reduce<Checkpoint | null>((a, b) => (!a || b.tree_size > a.tree_size ? b : a), null);
    clear(ledger);
    ledger.append(
      h('p', { 'data-testid': 'audit-checkpoint' }, latest ? L('checkpoint', { size: latest.tree_size, time: formatTime(latest.at_ms) }) : L('noCheckpoint')),
      h('p', { class: 'muted' }, `${L('root')}: `, h('code', { 'data-testid': 'audit-root' }, latest?.root_hash ?? '—')),
      h('p', { class: 'muted' }, `${L('logKey')}: `, h('code', { 'data-testid': 'audit-log-key' }, logKey || '—')),
    );
  };
  const sign = h('button', { type: 'button', 'data-testid': 'audit-sign', onclick: async () => {
    sign.disabled = true;
    await tryAudit(status, async () => {
      const c = await api<Checkpoint>('POST', '/api/audit/checkpoints', {});
      await loadLedger();
      signStatus.textContent = L('signed', { size: c.tree_size });
    });
    sign.disabled = false;
  } }, L('sign'));

  // --- the search form -------------------------------------------------------
  const study = field('audit-study', L('study'), { maxlength: 64, size: 28 });
  const issuer = field('audit-patient-issuer', L('issuer'), { maxlength: 64, size: 10 });
  const patientId = field('audit-patient-id', L('patientId'), { maxlength: 64, size: 12, autocomplete: 'off' });
  const principal = field('audit-principal', L('principal'), { maxlength: 128, size: 16 });
  const institution = field('audit-institution', L('institution'), { maxlength: 64, size: 10 });
  const event = field('audit-event', L('event'), { maxlength: 64, size: 14, list: 'audit-kinds', placeholder: L('any') });
  const kinds = h('datalist', { id: 'audit-kinds' }, ...KINDS.map((k) => h('option', { value: k })));
  const from = field('audit-from', L('from'), { type: 'date' });
  const to = field('audit-to', L('to'), { type: 'date' });
  const inputs = { study, patient_issuer: issuer, patient_id: patientId, principal, institution, event, from, to };
  const values = (): Record<string, string> => Object.fromEntries(Object.entries(inputs).map(([k, f]) => [k, f.input.value]));

  // --- results -------------------------------------------------------------
  const count = h('span', { class: 'muted', 'data-testid': 'audit-count' });
  const csv = h('a', { class: 'button', 'data-testid': 'audit-csv', download: 'audit-events.csv', hidden: true }, L('csv'));
  const reportButton = h('button', { type: 'button', 'data-testid': 'audit-report', hidden: true, onclick: () => showReport() }, L('report'));
  const hint = h('p', { class: 'muted', 'data-testid': 'audit-proof-hint', hidden: true });
  const list = h('div');
  const next = h('button', { type: 'button', 'data-testid': 'audit-next', disabled: true, onclick: () => void run(lastLeaf) }, L('next'));
  const first = h('button', { type: 'button', 'data-testid': 'audit-first', disabled: true, onclick: () => void run(-1) }, L('first'));

  // The search shown: its filters as submitted, whether it is the
  // "who has seen" preset, and the page's rows.
  let shown: Record<string, string> = {};
  let seenOnly = false;
  let rows: LedgerRow[] = [];
  let lastLeaf = -1;

  const run = async (after: number) => {
    await tryAudit(status, async () => {
      const p = searchParams(shown, after);
      p.set('limit', String(PAGE));
      const page = await api<LedgerRow[]>('GET', `/api/audit/events?${p}`);
      lastLeaf = page.length ? page[page.length - 1].leaf_index : after;
      rows = seenOnly ? page.filter((r) => SEEN_EVENTS.includes(r.event.event)) : page;
      next.disabled = page.length < PAGE;
      first.disabled = after < 0;
      const all = searchParams(shown);
      all.set('format', 'csv');
      all.set('limit', String(CSV_LIMIT));
      csv.setAttribute('href', apiUrl(`/api/audit/events?${all}`));
      csv.hidden = false;
      reportButton.hidden = !(shown.patient_issuer && shown.patient_id);
      count.textContent = L('count', { n: rows.length });
      clear(list);
      list.append(resultsTable(rows));
    });
  };

  const submit = (preset: boolean) => {
    seenOnly = preset;
    shown = values();
    void run(-1);
  };

  const form = h('form', { class: 'admin-form audit-form', 'data-testid': 'audit-form', onsubmit: (e: Event) => {
    e.preventDefault();
    if (Boolean(issuer.input.value.trim()) !== Boolean(patientId.input.value.trim())) {
      status.textContent = L('needPatient');
      return;
    }
    submit(false);
  } },
  study.label, issuer.label, patientId.label, principal.label, institution.label, event.label, kinds, from.label, to.label,
  h('button', { type: 'submit', 'data-testid': 'audit-search' }, L('search')),
  h('button', { type: 'button', 'data-testid': 'audit-seen', onclick: () => {
    if (!issuer.input.value.trim() || !patientId.input.value.trim()) {
      status.textContent = L('needPatient');
      patientId.input.focus();
      return;
    }
    // The preset: the patient only, the events that reach images.
    for (const [k, f] of Object.entries(inputs)) if (k !== 'patient_issuer' && k !== 'patient_id') f.input.value = '';
    submit(true);
  } }, L('seen')),
  h('button', { type: 'button', onclick: () => {
    for (const f of Object.values(inputs)) f.input.value = '';
  } }, L('clear')));

  const resultsTable = (r: LedgerRow[]) => table<LedgerRow>('audit-table', [
    { label: '#', value: (e) => String(e.leaf_index) },
    { label: L('time'), value: (e) => formatTime(e.event.at_ms) },
    { label: L('event'), value: (e) => e.event.event },
    { label: L('result'), value: (e) => e.event.result },
    { label: L('who'), value: (e) => e.event.principal },
    { label: L('institution'), value: (e) => e.event.institution ?? '' },
    { label: L('through'), value: (e) => through(e.event.via) },
    { label: L('client'), value: (e) => e.event.client ?? '' },
    { label: L('studies'), value: (e) => (e.event.studies ?? []).join(' ') },
    { label: L('detail'), value: (e) => e.event.detail ?? '' },
  ], r, (e) => [h('button', { type: 'button', 'data-testid': 'audit-proof', onclick: () => void proof(e.leaf_index) }, L('proof'))]);

  const proof = async (leaf: number) => {
    await tryAudit(status, async () => {
      const p = await api<{ leaf_index: number; bundle: string; entry: string }>('GET', `/api/audit/proof?leaf=${leaf}`);
      download(`leaf-${leaf}.tlog-proof`, p.bundle);
      download(`leaf-${leaf}.entry`, p.entry);
      clear(hint);
      hint.append(L('proofSaved', { n: leaf }), ' ', h('code', { 'data-testid': 'audit-check-command' },
        `yunying audit check-proof DIR --log-key ${logKey || 'KEY'}`));
      hint.hidden = false;
    });
  };

  // --- the printable patient access report ------------------------------------
  const showReport = () => {
    const report = patientReport(shown.patient_issuer.trim(), shown.patient_id.trim(), rows.filter((r) => SEEN_EVENTS.includes(r.event.event)), latest, logKey);
    const close = () => {
      report.remove();
      document.body.classList.remove('audit-printing');
    };
    report.prepend(h('div', { class: 'no-print report-actions' },
      h('button', { type: 'button', 'data-testid': 'report-print', onclick: () => window.print() }, L('print')),
      h('button', { type: 'button', 'data-testid': 'report-back', onclick: close }, L('back'))));
    document.body.classList.add('audit-printing');
    document.body.append(report);
  };

  body.append(
    h('div', { class: 'audit-status' }, ledger, h('div', {}, sign, ' ', signStatus)),
    form,
    h('div', { class: 'pager' }, count, ' ', csv, ' ', reportButton),
    hint, list,
    h('div', { class: 'pager' }, first, next),
  );
  void tryAudit(status, loadLedger);
  return el;
}

/**
 * The patient access report: a clean page to print. The patient is named
 * as the auditor typed them (events hold only a keyed digest), then who
 * reached their images, when, from which institution and why, and the
 * ledger's checkpoint that proves the rows.
 */
export function patientReport(issuer: string, patientId: string, rows: LedgerRow[], latest: Checkpoint | null, logKey: string): HTMLElement {
  const why = (r: LedgerRow) => [through(r.event.via), r.event.detail].filter(Boolean).join(' — ');
  return h('article', { class: 'audit-report', 'data-testid': 'patient-report' },
    h('h1', {}, L('report')),
    h('p', { 'data-testid': 'report-patient' }, L('reportFor', { issuer, id: patientId })),
    h('p', { class: 'muted' }, L('reportMade', { time: formatTime(Date.now()) })),
    rows.length
      ? h('table', { class: 'admin-table', 'data-testid': 'report-table' },
        h('thead', {}, h('tr', {}, ...['time', 'who', 'institution', 'event', 'why', 'studies', 'leaf'].map((k) => h('th', {}, L(k as keyof typeof LABELS))))),
        h('tbody', {}, ...rows.map((r) => h('tr', {},
          h('td', {}, formatTime(r.event.at_ms)), h('td', {}, r.event.principal), h('td', {}, r.event.institution ?? ''),
          h('td', {}, r.event.event), h('td', {}, why(r)), h('td', {}, (r.event.studies ?? []).join(' ')),
          h('td', {}, String(r.leaf_index))))))
      : h('p', { 'data-testid': 'report-none' }, L('reportNone')),
    h('footer', { class: 'report-ledger', 'data-testid': 'report-ledger' },
      h('p', {}, latest ? L('reportLedger', { size: latest.tree_size, root: latest.root_hash, time: formatTime(latest.at_ms) }) : L('noCheckpoint')),
      h('p', {}, `${L('logKey')}: `, h('code', {}, logKey || '—')),
      h('p', {}, L('reportProof'))),
  );
}
