// Reading statistics, `#/reading/statistics?by=…&side=…`: turnaround
// (request → signed, p50 and p90), backlog, overdue, critical findings
// and the time to notify them, by requesting institution, reading
// institution, modality or radiologist, as the server counts them
// (`/api/reading/statistics`); a table, inline SVG bar charts and the
// same as CSV.

import { apiUrl } from './api';
import { clear, h } from './dom';
import { ReadingState, Stats, StatsLine, query, reading } from './reading-api';
import { ReadingLabel, rl } from './reading-i18n';
import { refusal } from './reading-report';

const BY = ['requesting', 'reading', 'modality', 'radiologist'] as const;
const BY_LABELS: Record<string, ReadingLabel> = { requesting: 'byRequesting', reading: 'byReading', modality: 'byModality', radiologist: 'byRadiologist' };

const SVG = 'http://www.w3.org/2000/svg';
function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** `2026-12-05` (local midnight) → ms; empty → undefined. */
function dayMs(value: string, endOfDay = false): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(value)) return undefined;
  const [y, m, d] = value.split('-').map(Number);
  return new Date(y, m - 1, d + (endOfDay ? 1 : 0)).getTime();
}

export async function renderReadingStatistics(root: HTMLElement, params: Record<string, string>, state: ReadingState): Promise<void> {
  clear(root);
  const by = (BY as readonly string[]).includes(params.by ?? '') ? params.by : 'requesting';
  const side = params.side === 'requesting' ? 'requesting' : 'reading';
  const asked = { by, side, from_ms: dayMs(params.from ?? ''), to_ms: dayMs(params.to ?? '', true) };
  const bySelect = h('select', { name: 'by', 'data-testid': 'reading-stats-by' },
    ...BY.map((b) => h('option', { value: b, selected: b === by }, rl(BY_LABELS[b]))));
  const sideSelect = h('select', { name: 'side', 'data-testid': 'reading-stats-side' },
    h('option', { value: 'reading', selected: side === 'reading' }, rl('readingSide')),
    h('option', { value: 'requesting', selected: side === 'requesting' }, rl('sentSide')));
  const from = h('input', { type: 'date', name: 'from', value: params.from ?? '', 'data-testid': 'reading-stats-from' });
  const to = h('input', { type: 'date', name: 'to', value: params.to ?? '', 'data-testid': 'reading-stats-to' });
  const csv = h('a', {
    class: 'button', 'data-testid': 'reading-stats-csv', download: 'reading-statistics.csv',
    href: apiUrl(`/api/reading/statistics${query({ ...asked, format: 'csv' })}`),
  }, rl('csv'));
  const form = h('form', {
    class: 'filters',
    onsubmit: (e: Event) => {
      e.preventDefault();
      const hash = `#/reading/statistics${query({ by: bySelect.value, side: sideSelect.value, from: from.value, to: to.value })}`;
      if (hash === location.hash) void renderReadingStatistics(root, params, state);
      else location.hash = hash;
    },
  },
  h('label', {}, rl('by'), bySelect), h('label', {}, rl('side'), sideSelect),
  h('label', {}, rl('from'), from), h('label', {}, rl('to'), to),
  h('button', { type: 'submit', 'data-testid': 'reading-stats-show' }, rl('show')), csv);
  const out = h('div', { 'data-testid': 'reading-stats' }, rl('loading'));
  root.append(h('section', { class: 'worklist reading-stats' },
    h('h1', {}, rl('statistics')),
    h('nav', { class: 'rd-nav' },
      h('a', { href: '#/reading' }, rl('readingSide')), h('a', { href: '#/reading?side=requesting' }, rl('sentSide'))),
    form, out));
  let stats: Stats;
  try {
    stats = await reading.statistics(asked);
  } catch (e) {
    state.view = 'error';
    state.message = refusal(e);
    out.replaceChildren(h('p', { class: 'rd-message error', 'data-testid': 'reading-message' }, state.message));
    return;
  }
  state.view = 'statistics';
  state.stats = stats;
  clear(out);
  if (stats.truncated) out.append(h('p', { class: 'rd-message error' }, rl('truncated')));
  if (!stats.lines.length) {
    out.append(h('p', { class: 'muted', 'data-testid': 'reading-stats-empty' }, rl('nothing')));
    return;
  }
  out.append(
    h('h3', {}, rl('turnaroundChart')),
    bars('reading-chart-turnaround', stats.lines, [
      ['p50', '#3d8bfd', (l) => l.turnaround_p50_min ?? 0],
      ['p90', '#d9a520', (l) => l.turnaround_p90_min ?? 0],
    ]),
    h('h3', {}, rl('backlogChart')),
    bars('reading-chart-backlog', stats.lines, [
      [rl('backlog'), '#8b96a5', (l) => l.backlog],
      [rl('overdue'), '#d0463b', (l) => l.overdue],
    ]),
    table(stats));
}

/** Grouped horizontal bars: one bar per series for each line. */
function bars(testid: string, lines: StatsLine[], series: [string, string, (l: StatsLine) => number][]): SVGElement {
  const bar = 14;
  const width = 640;
  const left = 170;
  const group = series.length * bar + 10;
  const max = Math.max(0, ...lines.flatMap((l) => series.map(([, , f]) => f(l)))) || 1;
  const chart = svg('svg', { class: 'chart', 'data-testid': testid, viewBox: `0 0 ${width} ${lines.length * group + 24}`, role: 'img' });
  series.forEach(([name, colour], k) => {
    chart.append(svg('rect', { x: left + k * 110, y: 2, width: 10, height: 10, fill: colour }));
    chart.append(svg('text', { x: left + k * 110 + 14, y: 11, class: 'chart-label' }, name));
  });
  lines.forEach((l, i) => {
    const y = 20 + i * group;
    chart.append(svg('text', { x: left - 6, y: y + group / 2, 'text-anchor': 'end', class: 'chart-label' }, label(l).length > 24 ? `${label(l).slice(0, 23)}…` : label(l)));
    series.forEach(([name, colour, f], k) => {
      const v = f(l);
      const w = ((width - left - 60) * v) / max;
      const rect = svg('rect', { x: left, y: y + k * bar, width: Math.max(0, w), height: bar - 2, fill: colour, 'data-key': l.key, 'data-value': v });
      rect.append(svg('title', {}, `${label(l)} · ${name}: ${v}`));
      chart.append(rect, svg('text', { x: left + w + 4, y: y + k * bar + bar - 4, class: 'chart-label' }, String(v)));
    });
  });
  return chart;
}

function table(stats: Stats): HTMLTableElement {
  const columns: [ReadingLabel, (l: StatsLine) => string | number | null][] = [
    ['requests', (l) => l.requests], ['signedCount', (l) => l.signed], ['backlog', (l) => l.backlog], ['overdue', (l) => l.overdue],
    ['withinTarget', (l) => l.within_target], ['p50', (l) => l.turnaround_p50_min], ['p90', (l) => l.turnaround_p90_min],
    ['criticalCount', (l) => l.critical], ['criticalNotified', (l) => l.critical_notified], ['notifyP50', (l) => l.notify_p50_min],
  ];
  const tr = (l: StatsLine, total = false) => h('tr', { 'data-key': l.key, class: total ? 'total' : '' },
    h('td', { title: l.key }, total ? rl('all') : label(l)), ...columns.map(([, f]) => h('td', {}, String(f(l) ?? '—'))));
  return h('table', { 'data-testid': 'reading-stats-table' },
    h('thead', {}, h('tr', {}, h('th', {}, rl(BY_LABELS[stats.by] ?? 'key')), ...columns.map(([label]) => h('th', {}, rl(label))))),
    h('tbody', {}, ...stats.lines.map((l) => tr(l)), tr(stats.total, true)));
}

/** What a line is called: the name the server gives, else its key. */
function label(l: StatsLine): string {
  return l.name || l.key;
}
