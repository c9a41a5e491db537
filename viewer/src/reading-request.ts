// Reading one request, `#/reading/{request_id}`: the study in the reader
// (viewer.ts) with the request's priors (other institutions' studies the
// request's grant opens) ready to compare side by side, and beside it the
// request, the report panel (reading-report.ts), the report's versions
// (signed ones with signer, time and SM3 digest) and its deliveries back
// to the requesting institution. After signing, the page follows the
// deliveries until the report is returned. The requesting institution may
// cancel a request not signed yet (confirmed in place).

import { accessBanner, studyAccess } from './access';
import { formatTime } from './api';
import { DicomWeb, STUDY_FIELDS, T, formatDate, str } from './dicomweb';
import { clear, h } from './dom';
import { CANCELLABLE, READING_MAY, ReadingState, RequestDetail, Template, reading } from './reading-api';
import { rl, rlOf } from './reading-i18n';
import { EditorContext, readOnly, refusal, reportPanel } from './reading-report';
import { patientName, priorityBadge, statusBadge, waiting } from './reading-worklist';
import { Who, may } from './session';
import { Reader } from './viewer';

/** How often, and how many times, a signed request is fetched again until returned. */
const FOLLOW_MS = 2000;
const FOLLOW_TIMES = 90;

export async function renderReadingRequest(
  root: HTMLElement, banner: HTMLElement, web: DicomWeb, who: Who, id: string, state: ReadingState,
  onReader: (r: Reader) => void,
): Promise<void> {
  clear(root);
  const back = () => { location.hash = '#/reading'; };
  let detail: RequestDetail;
  try {
    detail = await reading.detail(id);
  } catch (e) {
    state.view = 'error';
    state.message = refusal(e);
    root.append(h('section', { class: 'refusal', 'data-testid': 'reading-error' },
      h('h1', {}, rl('request')), h('p', { 'data-testid': 'reading-error-message' }, state.message),
      h('button', { type: 'button', onclick: back }, `← ${rl('back')}`)));
    return;
  }
  state.view = 'request';
  state.detail = detail;
  const side = detail.side;
  let templates: Template[] = [];
  if (side === 'reading') templates = await reading.templates().catch(() => []);

  const images = h('div', { class: 'rd-images', 'data-testid': 'reading-images' });
  const panel = h('aside', { class: 'rd-panel', 'data-testid': 'reading-panel', 'data-request': id, 'data-side': side });
  const section = h('section', { class: 'reading-request' }, images, panel);
  root.append(section);
  const message = h('div', { class: 'rd-message', role: 'alert', 'data-testid': 'reading-message' });
  const say = (text: string, error = false) => {
    state.message = text;
    message.textContent = text;
    message.classList.toggle('error', error);
  };
  let reader: Reader | undefined;
  const head = h('div', { class: 'rd-head' });
  const history = h('div', { class: 'rd-history' });
  const body = h('div', {});
  const ctx: EditorContext = {
    detail, templates, who, state, say, added: new Set(),
    reader: () => reader,
    reload: async () => { await refresh(true); },
  };
  let follows = 0;
  const refresh = async (full: boolean) => {
    try {
      const next = await reading.detail(id);
      const changed = next.request.status !== detail.request.status
        || JSON.stringify(next.reports.map((r) => [r.version, r.state])) !== JSON.stringify(detail.reports.map((r) => [r.version, r.state]));
      detail = next;
      ctx.detail = next;
      state.detail = next;
      show(full || changed);
    } catch (e) {
      say(refusal(e), true);
    }
  };
  const show = (full: boolean) => {
    head.replaceChildren(...headOf(detail, side, who, say, () => refresh(true)));
    history.replaceChildren(...historyOf(detail));
    if (full) body.replaceChildren(reportPanel(ctx));
    if (detail.request.status === 'signed' && follows < FOLLOW_TIMES) {
      follows++;
      window.setTimeout(() => { if (section.isConnected) void refresh(false); }, FOLLOW_MS);
    }
  };
  const priors = h('div', { class: 'rd-priors', 'data-testid': 'reading-priors' });
  panel.append(
    h('a', { href: '#/reading', class: 'rd-back' }, `← ${rl('back')}`),
    h('h1', {}, rl('request')), head, message,
    h('h2', {}, rl('priors')), priors,
    h('h2', {}, rl('report')), body, history);
  show(true);

  // The study, then the priors beside it on demand.
  const access = await studyAccess(detail.request.study_instance_uid);
  const shown = accessBanner(access);
  if (shown) banner.append(shown);
  reader = new Reader(web, back);
  onReader(reader);
  const opened = reader.open(images, detail.request.study_instance_uid).then(() => true, (e: Error) => {
    images.replaceChildren(h('p', { class: 'rd-message error', 'data-testid': 'reading-images-error' }, rl('error', { m: e.message })));
    return false;
  });
  listPriors(priors, web, detail.priors, async (uid) => {
    if (!(await opened) || !reader) return;
    try {
      await reader.compare(uid);
    } catch (e) {
      say(refusal(e), true);
    }
  });
  await opened;
}

function headOf(d: RequestDetail, side: string, who: Who, say: (m: string, e?: boolean) => void, refresh: () => Promise<void>): (Node | string)[] {
  const r = d.request;
  const me = who.kind === 'signed-in' ? who.principal.id : '';
  const buttons = h('div', { class: 'rd-row rd-buttons' });
  const act = (label: string, testid: string, call: () => Promise<unknown>, done: string) => {
    const b = h('button', { type: 'button', 'data-testid': testid }, label);
    b.onclick = async () => {
      b.disabled = true;
      try {
        await call();
        say(done);
      } catch (e) {
        say(refusal(e), true);
      }
      await refresh();
    };
    buttons.append(b);
  };
  if (side === 'reading' && r.status === 'new' && may(who, READING_MAY.read)) act(rl('claim'), 'reading-claim', () => reading.claim(r.request_id), rl('claimedDone'));
  if (side === 'reading' && r.claimed_by === me && (r.status === 'claimed' || r.status === 'draft')) {
    act(rl('release'), 'reading-release', () => reading.release(r.request_id), rl('releasedDone'));
  }
  if (side === 'requesting' && CANCELLABLE.includes(r.status) && may(who, READING_MAY.request)) buttons.append(cancelButton(r.request_id, say, refresh));
  const refreshButton = h('button', { type: 'button', 'data-testid': 'reading-refresh' }, rl('refresh'));
  refreshButton.onclick = () => void refresh();
  buttons.append(refreshButton);
  const row = (label: string, value: Node | string, testid?: string) => [h('dt', {}, label), h('dd', { 'data-testid': testid }, value)];
  return [
    h('div', { class: 'rd-badges' }, priorityBadge(r.priority), ' ', statusBadge(r.status),
      r.critical ? h('span', { class: 'rd-critical', 'data-testid': 'reading-critical-flag' }, ` ⚠ ${rl('critical')}`) : null),
    h('dl', { class: 'rec-order' },
      ...row(side === 'reading' ? rl('requesting') : rl('readingInstitution'), side === 'reading' ? r.requesting_name : r.reading_name, 'reading-institution'),
      ...row(rl('patient'), `${patientName(r.patient_name)} ${r.patient_sex} ${formatDate(r.patient_birth_date)}`, 'reading-patient'),
      ...row(rl('study'), `${formatDate(r.study_date)} ${r.modality} ${r.body_part} ${r.study_description} · ${r.num_instances} ${rl('instances')}`),
      ...row(rl('waiting'), waiting(r)),
      ...(r.clinical_info ? row(rl('clinical'), r.clinical_info) : []),
      ...(r.his_order_id ? row(rl('hisOrder'), r.his_order_id) : []),
      ...(r.claimed_by ? row(rl('claimedBy'), r.claimed_by === me ? rl('me') : r.claimed_by_name || rl('someone')) : [])),
    buttons,
  ];
}

/**
 * "Cancel request" for the requesting institution, confirmed in place
 * before the server is asked; the grant to the reading institution ends.
 */
function cancelButton(id: string, say: (m: string, e?: boolean) => void, refresh: () => Promise<void>): HTMLElement {
  const box = h('div', { class: 'rd-cancel' });
  const ask = h('button', { type: 'button', class: 'danger', 'data-testid': 'reading-cancel' }, rl('cancelRequest'));
  const yes = h('button', { type: 'button', class: 'danger', 'data-testid': 'reading-cancel-confirm' }, rl('cancelYes'));
  const no = h('button', { type: 'button', 'data-testid': 'reading-cancel-keep' }, rl('cancelNo'));
  const confirm = h('div', { class: 'rd-confirm', role: 'alertdialog', 'data-testid': 'reading-cancel-ask' },
    h('span', {}, rl('cancelConfirm')), h('div', { class: 'rd-row' }, yes, no));
  ask.onclick = () => box.replaceChildren(confirm);
  no.onclick = () => box.replaceChildren(ask);
  yes.onclick = async () => {
    yes.disabled = true;
    no.disabled = true;
    try {
      await reading.cancel(id);
      say(rl('cancelledDone'));
    } catch (e) {
      say(refusal(e), true);
    }
    await refresh();
  };
  box.append(ask);
  return box;
}

/** The signed report in force, the versions and the deliveries. */
function historyOf(d: RequestDetail): Node[] {
  const out: Node[] = [];
  const signed = [...d.reports].reverse().find((r) => r.signed_ms !== null && r.version === d.request.report_version)
    ?? [...d.reports].reverse().find((r) => r.signed_ms !== null);
  if (signed) out.push(h('h2', {}, rl('signedReport')), readOnly(signed.content, 'reading-signed-report'));
  out.push(h('h2', {}, rl('versions')));
  out.push(d.reports.length ? h('ul', { class: 'rd-list', 'data-testid': 'reading-versions' }, ...d.reports.map((v) =>
    h('li', { 'data-testid': 'reading-version', 'data-version': v.version, 'data-state': v.state, 'data-current': String(v.current) },
      h('strong', {}, rl('version', { v: v.version })), ` · ${rlOf('state_', v.state)}`,
      h('div', { class: 'muted' }, `${rl('author')}: ${v.author_name || v.author} · ${formatTime(v.updated_ms)}`),
      v.signed_ms !== null ? h('div', { class: 'muted', 'data-testid': 'reading-signer' },
        `${rl('verifier')}: ${v.verifier_name || v.verifier} · ${rl('signedAt')}: ${formatTime(v.signed_ms)}`) : null,
      v.content_digest ? h('div', { class: 'muted rd-uid', 'data-testid': 'reading-digest' }, `${rl('digest')}: ${v.content_digest}`) : null,
      v.amend_reason ? h('div', { class: 'muted' }, rl('amendedFor', { r: v.amend_reason })) : null)))
    : h('p', { class: 'muted' }, rl('noReport')));
  out.push(h('h2', {}, rl('deliveries')));
  out.push(d.deliveries.length ? h('ul', { class: 'rd-list', 'data-testid': 'reading-deliveries' }, ...d.deliveries.map((x) =>
    h('li', {
      'data-testid': 'reading-delivery', 'data-channel': x.channel, 'data-done': String(x.done_ms !== null), 'data-version': x.version,
      class: x.done_ms !== null ? 'done' : x.error ? 'failed' : '',
    },
    `${rlOf('channel_', x.channel)} · ${rl('version', { v: x.version })} · `,
    x.done_ms !== null ? `${rl('done')} ${formatTime(x.done_ms)}` : x.error ? rl('failed', { n: x.attempts }) : rl('pending'),
    x.error && x.done_ms === null ? h('div', { class: 'rd-message error' }, x.error) : null)))
    : h('p', { class: 'muted' }, rl('noDeliveries')));
  return out;
}

/** The priors with what QIDO tells of them, each with a compare button. */
function listPriors(box: HTMLElement, web: DicomWeb, uids: string[], compare: (uid: string) => Promise<void>): void {
  if (!uids.length) {
    box.append(h('p', { class: 'muted' }, rl('noPriors')));
    return;
  }
  for (const uid of uids) {
    const text = h('div', {}, `…${uid.slice(-16)}`);
    const button = h('button', { type: 'button', 'data-testid': 'reading-compare' }, rl('compare'));
    button.onclick = async () => {
      button.disabled = true;
      await compare(uid);
      button.disabled = false;
    };
    box.append(h('div', { class: 'prior', 'data-testid': 'reading-prior', 'data-prior': uid }, text, button));
    web.search('/studies', { StudyInstanceUID: uid, includefield: STUDY_FIELDS }).then((found) => {
      const j = found[0];
      if (!j) return;
      text.replaceChildren(
        h('div', {}, `${formatDate(str(j, T.StudyDate))} ${str(j, T.StudyDescription)}`),
        h('div', { class: 'muted' }, [str(j, T.InstitutionName), str(j, T.IssuerOfPatientID)].filter(Boolean).join(' · ')));
    }).catch(() => undefined);
  }
}
