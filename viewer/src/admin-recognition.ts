// The recognition dashboard (检查互认统计) of the administration page, for
// institution administrators (their institution) and the region's
// administrators (all): `/api/recognition/statistics` for a span of
// months, grouped by month, institution, department, doctor or item;
// totals (recognition rate, money saved, decisions made without opening
// the images), a bar chart of outcomes per group, the reasons for not
// recognising, the table, and the same as CSV.

import { ApiError, api, apiUrl } from './api';
import { clear, h } from './dom';
import { lang } from './i18n';
import { adminSection, attempt, table } from './admin';

interface Row {
  key: Record<string, string>;
  offered: number;
  decided: number;
  recognised: number;
  partial: number;
  not_recognised: number;
  reasons: Record<string, number>;
  saved_fen: number;
  unopened: number;
}

interface Stats {
  from: string;
  to: string;
  group: string[];
  rows: Row[];
  reason_labels: Record<string, string>;
}

const GROUPS = ['month', 'institution', 'department', 'doctor', 'item'] as const;

const LABELS = {
  title: ['检查互认统计', 'Mutual recognition statistics'],
  from: ['起始月份', 'From month'],
  to: ['截止月份', 'To month'],
  group: ['分组', 'Group by'],
  month: ['月份', 'Month'],
  institution: ['机构', 'Institution'],
  department: ['科室', 'Department'],
  doctor: ['医生', 'Doctor'],
  item: ['项目', 'Item'],
  show: ['查询', 'Show'],
  csv: ['下载 CSV', 'Download CSV'],
  offered: ['候选', 'Offered'],
  decided: ['已决定', 'Decided'],
  recognised: ['互认', 'Recognised'],
  partial: ['部分互认', 'Partially'],
  notRecognised: ['不予互认', 'Not recognised'],
  rate: ['互认率', 'Recognition rate'],
  saved: ['节省费用（元）', 'Saved (yuan)'],
  unopened: ['未调阅影像即决定', 'Decided without opening'],
  reasons: ['不予互认理由', 'Reasons for not recognising'],
  notConfigured: ['本节点未配置检查互认', 'Recognition is not configured on this node'],
  none: ['所选期间没有数据', 'Nothing in this period'],
} as const;
type Label = keyof typeof LABELS;

function l(key: Label): string {
  return LABELS[key][lang() === 'zh' ? 0 : 1];
}

function pct(n: number, d: number): string {
  return d > 0 ? `${((100 * n) / d).toFixed(1)}%` : '—';
}

function yuan(fen: number): string {
  return (fen / 100).toLocaleString(lang() === 'zh' ? 'zh-CN' : 'en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

function thisMonth(offsetMonths = 0): string {
  const d = new Date();
  d.setDate(1);
  d.setMonth(d.getMonth() + offsetMonths);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}`;
}

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

const COLOURS = { recognised: '#2f9e63', partial: '#d9a520', not: '#d0463b' };

/** Stacked bars: recognised, partial and not recognised per group. */
function outcomesChart(rows: Row[], label: (r: Row) => string): SVGElement {
  const bar = 22;
  const width = 640;
  const left = 150;
  const max = Math.max(1, ...rows.map((r) => r.recognised + r.partial + r.not_recognised));
  const chart = svg('svg', { class: 'chart', 'data-testid': 'recognition-chart', viewBox: `0 0 ${width} ${rows.length * (bar + 6) + 6}`, role: 'img' });
  rows.forEach((r, i) => {
    const y = 6 + i * (bar + 6);
    chart.append(svg('text', { x: left - 6, y: y + bar * 0.7, 'text-anchor': 'end', class: 'chart-label' }, label(r)));
    let x = left;
    for (const [n, colour, name] of [[r.recognised, COLOURS.recognised, l('recognised')], [r.partial, COLOURS.partial, l('partial')], [r.not_recognised, COLOURS.not, l('notRecognised')]] as const) {
      if (n <= 0) continue;
      const w = ((width - left - 50) * n) / max;
      const rect = svg('rect', { x, y, width: w, height: bar, fill: colour });
      rect.append(svg('title', {}, `${name}: ${n}`));
      chart.append(rect);
      x += w;
    }
    chart.append(svg('text', { x: x + 4, y: y + bar * 0.7, class: 'chart-label' }, pct(r.recognised + r.partial, r.decided)));
  });
  return chart;
}

/** Horizontal bars: how often each reason was given. */
function reasonsChart(counts: [string, number][], labels: Record<string, string>): SVGElement {
  const bar = 18;
  const width = 640;
  const left = 260;
  const max = Math.max(1, ...counts.map(([, n]) => n));
  const chart = svg('svg', { class: 'chart', 'data-testid': 'recognition-reasons', viewBox: `0 0 ${width} ${counts.length * (bar + 6) + 6}`, role: 'img' });
  counts.forEach(([code, n], i) => {
    const y = 6 + i * (bar + 6);
    chart.append(svg('text', { x: left - 6, y: y + bar * 0.75, 'text-anchor': 'end', class: 'chart-label' }, `${code} · ${labels[code] ?? code}`));
    chart.append(svg('rect', { x: left, y, width: ((width - left - 40) * n) / max, height: bar, fill: COLOURS.not }));
    chart.append(svg('text', { x: left + ((width - left - 40) * n) / max + 4, y: y + bar * 0.75, class: 'chart-label' }, String(n)));
  });
  return chart;
}

export function recognitionSection(): HTMLElement {
  const { el, status, body } = adminSection('recognition', l('title'));
  const from = h('input', { type: 'month', name: 'from', value: thisMonth(-11), 'data-testid': 'recognition-from' });
  const to = h('input', { type: 'month', name: 'to', value: thisMonth(), 'data-testid': 'recognition-to' });
  const group = h('select', { name: 'group', 'data-testid': 'recognition-group' }, ...GROUPS.map((g) => h('option', { value: g }, l(g))));
  const csv = h('a', { class: 'button', 'data-testid': 'recognition-csv', download: 'recognition-statistics.csv' }, l('csv'));
  const out = h('div', { 'data-testid': 'recognition-stats' });
  const query = () => `from=${encodeURIComponent(from.value)}&to=${encodeURIComponent(to.value)}&group=${group.value}`;
  const show = async () => {
    csv.setAttribute('href', apiUrl(`/api/recognition/statistics?${query()}&format=csv`));
    await attempt(status, async () => {
      clear(out);
      let stats: Stats;
      try {
        stats = await api<Stats>('GET', `/api/recognition/statistics?${query()}`);
      } catch (e) {
        if (e instanceof ApiError && e.status === 404) {
          out.append(h('p', { class: 'muted' }, l('notConfigured')));
          return;
        }
        throw e;
      }
      render(out, stats, group.value);
    });
  };
  body.append(
    h('form', { class: 'filters', onsubmit: (e: Event) => { e.preventDefault(); void show(); } },
      h('label', {}, l('from'), from), h('label', {}, l('to'), to), h('label', {}, l('group'), group),
      h('button', { type: 'submit', 'data-testid': 'recognition-show' }, l('show')), csv),
    out,
  );
  void show();
  return el;
}

function render(out: HTMLElement, stats: Stats, group: string): void {
  const rows = stats.rows;
  if (!rows.length) {
    out.append(h('p', { class: 'muted', 'data-testid': 'recognition-empty' }, l('none')));
    return;
  }
  const sum = (f: (r: Row) => number) => rows.reduce((n, r) => n + f(r), 0);
  const decided = sum((r) => r.decided);
  const tile = (id: string, label: string, value: string) =>
    h('div', { class: 'tile', 'data-testid': `recognition-total-${id}` }, h('div', { class: 'tile-value' }, value), h('div', { class: 'muted' }, label));
  out.append(h('div', { class: 'tiles' },
    tile('offered', l('offered'), String(sum((r) => r.offered))),
    tile('decided', l('decided'), String(decided)),
    tile('rate', l('rate'), pct(sum((r) => r.recognised + r.partial), decided)),
    tile('saved', l('saved'), yuan(sum((r) => r.saved_fen))),
    tile('unopened', l('unopened'), pct(sum((r) => r.unopened), decided)),
  ));
  const key = (r: Row) => r.key[group] || '—';
  out.append(outcomesChart(rows, key));
  const reasons = new Map<string, number>();
  for (const r of rows) for (const [code, n] of Object.entries(r.reasons)) reasons.set(code, (reasons.get(code) ?? 0) + n);
  if (reasons.size) {
    out.append(h('h3', {}, l('reasons')), reasonsChart([...reasons.entries()].sort((a, b) => b[1] - a[1]), stats.reason_labels));
  }
  out.append(table<Row>('recognition-table', [
    { label: l(group as Label), value: key },
    { label: l('offered'), value: (r) => String(r.offered) },
    { label: l('decided'), value: (r) => String(r.decided) },
    { label: l('recognised'), value: (r) => String(r.recognised) },
    { label: l('partial'), value: (r) => String(r.partial) },
    { label: l('notRecognised'), value: (r) => String(r.not_recognised) },
    { label: l('rate'), value: (r) => pct(r.recognised + r.partial, r.decided) },
    { label: l('saved'), value: (r) => yuan(r.saved_fen) },
    { label: l('unopened'), value: (r) => String(r.unopened) },
  ], rows));
}
