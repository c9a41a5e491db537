// The administration page (`#/admin`): each section only for the role that
// may use it (the server refuses the rest anyway). Accounts and sessions
// (system and institution administrators; roles: the security
// administrator), API keys (security administrator), the AE registry
// (system administrator), the audit record and its ledger (audit
// administrator), the recognition statistics (institution and system
// administrators), remote reading's relationships and templates (system
// administrator).

import { clear, h } from './dom';
import { t } from './i18n';
import { MAY, Who, may } from './session';
import { sessionsSection, usersSection } from './admin-people';
import { aesSection, keysSection } from './admin-system';
import { addHangingSection } from './admin-hanging';
import { auditSection } from './admin-audit';
import { recognitionSection } from './admin-recognition';
import { addReadingAdminSection } from './admin-reading';

export function renderAdmin(root: HTMLElement, who: Who): void {
  clear(root);
  const page = h('section', { class: 'admin', 'data-testid': 'admin' }, h('h1', {}, t('admin')));
  const sections: HTMLElement[] = [];
  if (may(who, MAY.manageAccounts) || may(who, MAY.assignRoles)) sections.push(usersSection(who));
  if (may(who, MAY.manageAccounts)) sections.push(sessionsSection());
  if (may(who, MAY.manageKeys)) sections.push(keysSection());
  if (may(who, MAY.manageSystem)) sections.push(aesSection());
  if (may(who, MAY.readAudit)) sections.push(auditSection());
  const roles = who.kind === 'signed-in' ? who.principal.roles : [];
  if (roles.includes('institution-admin') || roles.includes('system-admin')) sections.push(recognitionSection());
  if (!sections.length) page.append(h('p', { 'data-testid': 'admin-none' }, t('adminNothing')));
  page.append(...sections);
  root.append(page);
  if (may(who, MAY.manageSystem)) void addReadingAdminSection(page);
  if (may(who, MAY.manageSystem)) void addHangingSection(page);
}

// ---------------------------------------------------------------------------
// Helpers shared by the sections
// ---------------------------------------------------------------------------

/** A titled section with a status line for errors and results. */
export function adminSection(id: string, title: string): { el: HTMLElement; status: HTMLElement; body: HTMLElement } {
  const status = h('div', { class: 'status', role: 'status', 'data-testid': `${id}-status` });
  const body = h('div');
  const el = h('section', { class: 'admin-section', 'data-testid': `admin-${id}` }, h('h2', {}, title), status, body);
  return { el, status, body };
}

export interface Col<R> {
  label: string;
  value: (r: R) => string | Node;
}

/** A table of rows; `actions` adds a last column of buttons. */
export function table<R>(testid: string, cols: Col<R>[], rows: R[], actions?: (r: R) => Node[]): HTMLElement {
  if (!rows.length) return h('p', { class: 'muted', 'data-testid': testid }, t('none'));
  return h('table', { class: 'admin-table', 'data-testid': testid },
    h('thead', {}, h('tr', {}, ...cols.map((c) => h('th', {}, c.label)), actions ? h('th') : null)),
    h('tbody', {}, ...rows.map((r) => h('tr', {},
      ...cols.map((c) => h('td', {}, c.value(r))),
      actions ? h('td', { class: 'row-actions' }, ...actions(r)) : null))),
  );
}

/** A labelled input for the small create forms. */
export function field(name: string, label: string, attrs: Record<string, string | number | boolean> = {}): { label: HTMLElement; input: HTMLInputElement } {
  const input = h('input', { name, 'data-testid': `field-${name}`, ...attrs });
  return { label: h('label', {}, label, input), input };
}

/**
 * Run `fn`, showing its error in `status`, or `ok` when given (without it,
 * a success only clears an earlier error: a reload after "Saved" keeps it).
 * True when it worked.
 */
export async function attempt(status: HTMLElement, fn: () => Promise<unknown>, ok = ''): Promise<boolean> {
  try {
    await fn();
    if (ok || status.classList.contains('error')) status.textContent = ok;
    status.classList.remove('error');
    return true;
  } catch (e) {
    status.textContent = t('error', { m: (e as Error).message });
    status.classList.add('error');
    return false;
  }
}

/** A value shown once (a new key, a generated password) with a copy button. */
export function shownOnce(testid: string, label: string, value: string): HTMLElement {
  const code = h('code', { class: 'secret', 'data-testid': testid }, value);
  const copy = h('button', { type: 'button', 'data-testid': `${testid}-copy`, onclick: async () => {
    try {
      await navigator.clipboard.writeText(value);
      copy.textContent = t('copied');
    } catch {
      // no clipboard permission: select the text for Ctrl+C
      const range = document.createRange();
      range.selectNodeContents(code);
      const sel = getSelection();
      sel?.removeAllRanges();
      sel?.addRange(range);
    }
  } }, t('copy'));
  return h('div', { class: 'shown-once', role: 'alert' }, h('p', {}, label), code, ' ', copy, h('p', { class: 'muted' }, t('shownOnce')));
}
