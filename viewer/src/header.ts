// The header's right side: who is signed in (name, institution, roles),
// the administration link for those who may use it, sign out, and sign out
// everywhere.

import { api } from './api';
import { clear, h } from './dom';
import { roleName, t } from './i18n';
import { readingLink } from './reading';
import { Who, displayName, hasSession, isAdmin } from './session';

/** `signedOut` runs after signing out (the sign-in page again). */
export function renderWho(el: HTMLElement, who: Who, signedOut: () => void): void {
  clear(el);
  if (who.kind === 'none' || who.kind === 'signed-out') return;
  const token = !!sessionStorage.getItem('yunying.token');
  const anonymous = who.kind === 'signed-in' && who.principal.id === 'anonymous';
  if (anonymous) {
    el.append(h('span', { class: 'who-name', 'data-testid': 'who-name' }, t('anonymous')),
      h('a', { href: '#/login', 'data-testid': 'sign-in-link' }, t('signIn')));
    return;
  }
  const institution = who.kind === 'signed-in' ? who.principal.institution : who.me.institution;
  const roles = who.kind === 'signed-in' ? who.principal.roles : who.me.roles ?? [];
  el.append(
    h('span', { class: 'who-name', 'data-testid': 'who-name' }, displayName(who)),
    h('span', { class: 'who-institution', 'data-testid': 'who-institution' }, institution || t('platform')),
    h('span', { class: 'who-roles muted', 'data-testid': 'who-roles' }, roles.map(roleName).join('、')),
  );
  const reading = readingLink(who);
  if (reading) el.append(reading);
  if (isAdmin(who)) el.append(h('a', { href: '#/admin', 'data-testid': 'admin-link' }, t('admin')));
  const out = async (path: string | null) => {
    if (path) await api('POST', path).catch(() => undefined);
    sessionStorage.removeItem('yunying.token');
    signedOut();
  };
  if (hasSession(who)) {
    el.append(
      h('button', { type: 'button', 'data-testid': 'logout', onclick: () => void out('/api/auth/logout') }, t('logout')),
      h('button', { type: 'button', 'data-testid': 'logout-all', onclick: () => {
        if (window.confirm(t('logoutAllConfirm'))) void out('/api/auth/logout-all');
      } }, t('logoutAll')),
    );
  } else if (token) {
    el.append(h('button', { type: 'button', 'data-testid': 'logout', onclick: () => void out(null) }, t('forgetToken')));
  }
}
