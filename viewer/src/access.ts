// How the viewer shows access to a study: a banner when it is reached
// through a grant (red, with the time left, for break-glass), and for a
// study out of reach the refusal with "request access / break-glass".

import { ApiError, api, formatTime } from './api';
import { clear, h } from './dom';
import { t } from './i18n';
import { MAY, Who, may } from './session';

export interface Grant {
  grant_id: string;
  kind: string;
  grantor: string;
  grantee_kind: string;
  grantee: string;
  reason: string;
  not_before_ms: number;
  not_after_ms: number;
  studies: string[];
}

export type StudyAccess =
  | { reached: 'own' }
  | { reached: 'grant'; grant?: Grant | null }
  /** Out of reach: the server's reason. */
  | { reached: 'refused'; message: string }
  /** The server cannot tell (no access API, unknown study): the reader finds out. */
  | { reached: 'unknown' };

export async function studyAccess(uid: string): Promise<StudyAccess> {
  try {
    return await api<StudyAccess>('GET', `/api/access/studies/${encodeURIComponent(uid)}`);
  } catch (e) {
    if (e instanceof ApiError && e.status === 403) return { reached: 'refused', message: e.message };
    return { reached: 'unknown' };
  }
}

export const BREAK_GLASS_CODES = ['emergency', 'continuity-of-care', 'patient-request', 'other'] as const;
/** The server's default `access.break_glass_max_minutes`; it refuses longer itself. */
export const BREAK_GLASS_MAX_MINUTES = 240;

function kindLabel(kind: string): string {
  switch (kind) {
    case 'referral': return t('grantReferral');
    case 'consent': return t('grantConsent');
    case 'recognition': return t('grantRecognition');
    case 'break-glass': return t('grantBreakGlass');
    default: return kind;
  }
}

/** The banner above a study reached through a grant, or nothing. */
export function accessBanner(access: StudyAccess): HTMLElement | null {
  if (access.reached !== 'grant') return null;
  const g = access.grant;
  if (g?.kind === 'break-glass') {
    const left = h('strong', { 'data-testid': 'break-glass-left' });
    const tick = () => {
      const minutes = Math.max(0, Math.ceil((g.not_after_ms - Date.now()) / 60000));
      left.textContent = minutes > 0 ? t('minutesLeft', { n: minutes }) : t('expired');
      return minutes > 0;
    };
    tick();
    const banner = h('div', { class: 'access-banner break-glass', role: 'status', 'data-testid': 'access-banner', 'data-kind': 'break-glass' },
      h('strong', {}, t('breakGlassBanner')), ' · ', left, ' · ',
      h('span', {}, t('grantUntil', { time: formatTime(g.not_after_ms) })), ' · ',
      h('span', { 'data-testid': 'access-reason' }, t('grantReason', { reason: g.reason })));
    const timer = window.setInterval(() => {
      if (!banner.isConnected || !tick()) window.clearInterval(timer);
    }, 15000);
    return banner;
  }
  const parts: (string | Node)[] = [h('strong', {}, t('grantBanner'))];
  if (g) {
    parts.push(' · ', kindLabel(g.kind),
      ' · ', t('grantBy', { who: g.grantor }),
      ' · ', t('grantUntil', { time: formatTime(g.not_after_ms) }),
      ' · ', h('span', { 'data-testid': 'access-reason' }, t('grantReason', { reason: g.reason })));
  }
  return h('div', { class: 'access-banner grant', role: 'status', 'data-testid': 'access-banner', 'data-kind': g?.kind ?? '' }, ...parts);
}

/**
 * A study out of reach: the server's reason and, for someone who may,
 * the break-glass button. `opened` runs once access is given.
 */
export function renderRefusal(root: HTMLElement, who: Who, uid: string, message: string, back: () => void, opened: () => void): void {
  clear(root);
  const section = h('section', { class: 'refusal', 'data-testid': 'refusal' },
    h('h1', {}, t('refusedTitle')),
    h('p', { 'data-testid': 'refusal-message' }, message),
    h('p', { class: 'muted' }, t('refusedExplain')),
  );
  const actions = h('div', { class: 'actions' }, h('button', { type: 'button', onclick: back }, `← ${t('back')}`));
  if (may(who, MAY.breakGlass)) {
    section.append(h('p', { class: 'muted' }, t('breakGlassHint')));
    actions.append(h('button', {
      type: 'button', class: 'danger', 'data-testid': 'break-glass',
      onclick: () => breakGlassDialog(uid, opened),
    }, t('requestAccess')));
  }
  section.append(actions);
  root.append(section);
}

/** The break-glass dialog: a reason code, what happened, for how long. */
export function breakGlassDialog(uid: string, opened: () => void): HTMLDialogElement {
  const code = h('select', { name: 'code', 'data-testid': 'break-glass-code' },
    ...BREAK_GLASS_CODES.map((c) => h('option', { value: c }, t(`reason_${c}`))));
  const text = h('textarea', { name: 'description', required: true, rows: 3, maxlength: 500, 'data-testid': 'break-glass-text' });
  const minutes = h('input', { name: 'minutes', type: 'number', min: 1, max: BREAK_GLASS_MAX_MINUTES, value: 60, required: true, 'data-testid': 'break-glass-minutes' });
  const error = h('div', { class: 'login-error', role: 'alert', 'data-testid': 'break-glass-error' });
  const submit = h('button', { type: 'submit', class: 'danger', 'data-testid': 'break-glass-submit' }, t('breakGlassSubmit'));
  const dialog = h('dialog', { class: 'break-glass-dialog', 'data-testid': 'break-glass-dialog' });
  // The checks are ours (with messages in the page's language), not the browser's.
  dialog.append(h('form', {
    novalidate: true,
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.textContent = '';
      const m = Number(minutes.value);
      if (!Number.isInteger(m) || m < 1 || m > BREAK_GLASS_MAX_MINUTES) {
        error.textContent = t('minutesRange', { max: BREAK_GLASS_MAX_MINUTES });
        return;
      }
      const description = text.value.trim();
      if (!description) {
        error.textContent = t('reasonNeeded');
        return;
      }
      submit.disabled = true;
      try {
        await api('POST', '/api/access/grants', {
          kind: 'break-glass', studies: [uid], reason: `${code.value}: ${description}`, minutes: m,
        });
        dialog.close();
        dialog.remove();
        opened();
      } catch (err) {
        error.textContent = (err as Error).message;
      } finally {
        submit.disabled = false;
      }
    },
  },
    h('h2', {}, t('breakGlassTitle')),
    h('p', { class: 'muted' }, t('breakGlassExplain')),
    h('label', {}, t('reasonCode'), code),
    h('label', {}, t('reasonText'), text),
    h('label', {}, t('minutes', { max: BREAK_GLASS_MAX_MINUTES }), minutes),
    error,
    h('div', { class: 'actions' },
      h('button', { type: 'button', onclick: () => { dialog.close(); dialog.remove(); } }, t('cancel')),
      submit),
  ));
  document.body.append(dialog);
  dialog.showModal();
  return dialog;
}
