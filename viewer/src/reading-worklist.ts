// The reading worklist, `#/reading?…`: for the reading centre the requests
// sent to it (`side=reading`), for the requesting institution those it
// sent (`side=requesting`, read-only). Status tabs with the server's
// counts, emergencies first (the server's order), waiting time against
// the turnaround target, filters (requesting institution, modality, body
// part, priority, mine), paging, claim and release.

import { ApiError, formatTime } from './api';
import { formatDate } from './dicomweb';
import { clear, h } from './dom';
import { PRIORITIES, ReadingState, RequestView, STATUSES, WorklistPage, query, reading } from './reading-api';
import { duration, rl, rlOf } from './reading-i18n';
import { Who } from './session';

const PAGE = 50;
/** The tabs of each side; `all` asks for every status. */
const TABS = ['new', 'claimed', 'draft', 'awaiting-review', 'signed', 'returned', 'all'] as const;

/** `Wang^Fang=王^芳` → `王芳 (Wang Fang)`. */
export function patientName(pn: string): string {
  const [alphabetic = '', ideographic = ''] = pn.split('=');
  const a = alphabetic.split('^').filter(Boolean).join(' ');
  const i = ideographic.split('^').filter(Boolean).join('');
  return i && a ? `${i} (${a})` : i || a;
}

/** The priority as a coloured badge. */
export function priorityBadge(priority: string): HTMLElement {
  return h('span', { class: `rd-priority ${priority}`, 'data-testid': 'reading-priority', 'data-priority': priority }, rlOf('', priority));
}

export function statusBadge(status: string): HTMLElement {
  return h('span', { class: `rd-status ${status}`, 'data-testid': 'reading-status', 'data-status': status }, rlOf('', status));
}

/** Waiting since the request, and the target: "due in …" or "overdue by …". */
export function waiting(r: RequestView, now = Date.now()): HTMLElement {
  const open = !['signed', 'returned', 'cancelled'].includes(r.status);
  const end = r.signed_ms ?? now;
  const due = open
    ? h('span', { class: r.overdue ? 'rd-overdue' : 'muted', 'data-testid': 'reading-due', 'data-overdue': String(r.overdue) },
      r.overdue ? rl('overdueBy', { t: duration(now - r.due_ms) }) : rl('dueIn', { t: duration(r.due_ms - now) }))
    : null;
  return h('span', { class: 'rd-waiting', title: `${formatTime(r.created_ms)} → ${formatTime(r.due_ms)}` },
    duration(end - r.created_ms), due ? ' · ' : '', due);
}

/** Render the worklist of `params` (the hash's query) into `root`. */
export async function renderReadingWorklist(root: HTMLElement, who: Who, params: Record<string, string>, state: ReadingState): Promise<void> {
  const me = who.kind === 'signed-in' ? who.principal.id : '';
  const side = params.side === 'requesting' ? 'requesting' : 'reading';
  const tab = (TABS as readonly string[]).includes(params.status ?? '') ? params.status : side === 'reading' ? 'new' : 'all';
  const offset = Math.max(0, Number(params.offset) || 0);
  const reload = () => void renderReadingWorklist(root, who, params, state);
  const go = (changes: Record<string, string | number | undefined>) => {
    const hash = `#/reading${query({ ...params, ...changes })}`;
    if (hash === location.hash) reload();
    else location.hash = hash;
  };
  clear(root);
  const message = h('div', { class: 'rd-message', role: 'alert', 'data-testid': 'reading-message' }, state.message ?? '');
  const section = h('section', { class: 'worklist reading-worklist', 'data-testid': 'reading-worklist-view', 'data-side': side });
  root.append(section);
  section.append(
    h('h1', {}, side === 'reading' ? rl('reading') : rl('sent')),
    h('nav', { class: 'rd-nav' },
      h('a', { href: '#/reading', class: side === 'reading' ? 'on' : '', 'data-testid': 'reading-side-reading' }, rl('readingSide')),
      h('a', { href: '#/reading?side=requesting', class: side === 'requesting' ? 'on' : '', 'data-testid': 'reading-side-requesting' }, rl('sentSide')),
      h('a', { href: `#/reading/statistics${side === 'requesting' ? '?side=requesting' : ''}`, 'data-testid': 'reading-statistics-link' }, rl('statistics'))),
  );
  const tabs = h('div', { class: 'rd-tabs', role: 'tablist' });
  const filters = filterForm(params, go);
  const status = h('div', { class: 'status', 'data-testid': 'reading-worklist-status' }, rl('loading'));
  const body = h('tbody');
  const table = h('table', { 'data-testid': 'reading-worklist' },
    h('thead', {}, h('tr', {}, ...[rl('priority'), rl('status'), rl('waiting'), side === 'reading' ? rl('requesting') : rl('readingInstitution'),
      rl('modality'), rl('bodyPart'), rl('patient'), rl('study'), rl('instances'), rl('claimedBy'), ''].map((c) => h('th', {}, c)))),
    body);
  const pager = h('div', { class: 'pager' });
  section.append(tabs, filters, message, status, table, pager);

  let page: WorklistPage;
  try {
    page = await reading.worklist({
      side,
      status: tab === 'all' ? STATUSES.join(',') : tab,
      requesting: params.requesting, modality: params.modality, body_part: params.body_part, priority: params.priority,
      claimed: params.claimed === 'me' ? 'me' : undefined,
      offset, limit: PAGE,
    });
  } catch (e) {
    status.textContent = rl('error', { m: (e as Error).message });
    state.view = 'error';
    state.message = (e as Error).message;
    return;
  }
  state.view = 'worklist';
  state.page = page;
  const counts = new Map(page.counts);
  for (const k of TABS) {
    const n = k === 'all' ? [...counts.values()].reduce((a, b) => a + b, 0) : counts.get(k) ?? 0;
    tabs.append(h('button', {
      type: 'button', role: 'tab', class: k === tab ? 'on' : '', 'aria-selected': String(k === tab), 'data-testid': `reading-tab-${k}`, 'data-count': n,
      onclick: () => go({ status: k, offset: undefined }),
    }, `${k === 'all' ? rl('all') : rlOf('', k)} (${n})`));
  }
  status.textContent = page.requests.length ? rl('total', { n: page.total }) : rl('none');
  const say = (text: string) => { state.message = text; message.textContent = text; };
  for (const r of page.requests) body.append(row(r, side, me, say, reload));
  clear(pager);
  pager.append(
    h('button', { type: 'button', disabled: offset === 0, 'data-testid': 'reading-previous', onclick: () => go({ offset: Math.max(0, offset - PAGE) || undefined }) }, rl('previous')),
    h('span', {}, rl('page', { n: Math.floor(offset / PAGE) + 1 })),
    h('button', { type: 'button', disabled: offset + PAGE >= page.total, 'data-testid': 'reading-next', onclick: () => go({ offset: offset + PAGE }) }, rl('next')),
  );
}

/** The filters; submitting goes to their address (page 1). */
function filterForm(params: Record<string, string>, go: (c: Record<string, string | undefined>) => void): HTMLFormElement {
  const text = (name: string, label: string) =>
    h('label', {}, label, h('input', { name, value: params[name] ?? '', size: 10, 'data-testid': `reading-filter-${name}` }));
  const select = (name: string, label: string, options: string[], labelOf: (o: string) => string) =>
    h('label', {}, label, h('select', { name, 'data-testid': `reading-filter-${name}` },
      h('option', { value: '' }, rl('any')),
      ...options.map((o) => h('option', { value: o, selected: params[name] === o }, labelOf(o)))));
  const form = h('form', {
    class: 'filters',
    onsubmit: (e: Event) => {
      e.preventDefault();
      const data = new FormData(form);
      const v = (k: string) => String(data.get(k) ?? '').trim() || undefined;
      go({ requesting: v('requesting'), modality: v('modality')?.toUpperCase(), body_part: v('body_part')?.toUpperCase(),
        priority: v('priority'), claimed: data.get('mine') ? 'me' : undefined, offset: undefined });
    },
  },
  text('requesting', rl('requesting')),
  select('modality', rl('modality'), ['CT', 'MR', 'DX', 'CR', 'US', 'MG', 'XA', 'RF', 'PT', 'NM'], (o) => o),
  text('body_part', rl('bodyPart')),
  select('priority', rl('priority'), [...PRIORITIES], (o) => rlOf('', o)),
  h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'mine', checked: params.claimed === 'me', 'data-testid': 'reading-filter-mine' }), ' ', rl('mine')),
  h('button', { type: 'submit', 'data-testid': 'reading-filter-submit' }, rl('filter')));
  return form;
}

function row(r: RequestView, side: string, me: string, say: (m: string) => void, reload: () => void): HTMLTableRowElement {
  const open = () => { location.hash = `#/reading/${r.request_id}`; };
  const act = (label: string, id: string, call: () => Promise<unknown>, after: () => void) =>
    h('button', {
      type: 'button', 'data-testid': id,
      onclick: async (e: Event) => {
        e.stopPropagation();
        (e.target as HTMLButtonElement).disabled = true;
        try {
          await call();
          after();
        } catch (err) {
          say(err instanceof ApiError && err.status ? `${err.status}: ${err.message}` : String((err as Error).message));
          // The list as it is now (someone else may have claimed it).
          reload();
        }
      },
    }, label);
  const mine = r.claimed_by !== '' && r.claimed_by === me;
  const actions: HTMLElement[] = [];
  if (side === 'reading' && r.status === 'new') {
    actions.push(act(rl('claim'), 'reading-claim', () => reading.claim(r.request_id), () => { say(rl('claimedDone')); open(); }));
  }
  if (side === 'reading' && mine && (r.status === 'claimed' || r.status === 'draft')) {
    actions.push(act(rl('release'), 'reading-release', () => reading.release(r.request_id), () => {
      say(rl('releasedDone'));
      reload();
    }));
  }
  const institution = side === 'reading' ? r.requesting_name || r.requesting : r.reading_name || r.reading;
  return h('tr', {
    class: r.overdue ? 'overdue' : '', tabindex: 0,
    'data-request': r.request_id, 'data-study': r.study_instance_uid, 'data-status': r.status, 'data-priority': r.priority,
    onclick: open,
    onkeydown: (e: Event) => { if ((e as KeyboardEvent).key === 'Enter') open(); },
  },
  h('td', {}, priorityBadge(r.priority), r.critical ? h('span', { class: 'rd-critical', title: rl('critical') }, ' ⚠') : null),
  h('td', {}, statusBadge(r.status)),
  h('td', {}, waiting(r)),
  h('td', { 'data-col': 'institution' }, institution),
  h('td', { 'data-col': 'modality' }, r.modality),
  h('td', { 'data-col': 'body-part' }, r.body_part),
  h('td', { 'data-col': 'patient' }, patientName(r.patient_name), h('span', { class: 'muted' }, ` ${r.patient_sex} ${formatDate(r.patient_birth_date)}`)),
  h('td', { 'data-col': 'study' }, `${formatDate(r.study_date)} ${r.study_description}`),
  h('td', { 'data-col': 'instances' }, String(r.num_instances)),
  h('td', { 'data-col': 'claimed' }, r.claimed_by ? (mine ? rl('me') : r.claimed_by_name || rl('someone')) : ''),
  h('td', { class: 'rd-actions' }, ...actions));
}
