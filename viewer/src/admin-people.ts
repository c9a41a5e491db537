// Administration: accounts (list, create, roles, disable/enable/unlock,
// reset password) and open sessions (list, end).

import { api, formatTime } from './api';
import { clear, h } from './dom';
import { roleName, t } from './i18n';
import { MAY, Who, may } from './session';
import { adminSection, attempt, field, shownOnce, table } from './admin';

interface User {
  user_id: string;
  username: string;
  display_name: string;
  institution: string | null;
  roles: string[];
  disabled: boolean;
  locked_until_ms: number | null;
  totp: boolean;
  oidc_issuer: string | null;
  created_ms: number;
}

const ROLES = ['radiologist', 'referring', 'technologist', 'institution-admin', 'system-admin', 'security-admin', 'audit-admin'];

function userState(u: User): string {
  const s: string[] = [];
  if (u.disabled) s.push(t('disabled'));
  if (u.locked_until_ms) s.push(t('locked'));
  if (u.totp) s.push('TOTP');
  if (u.oidc_issuer) s.push('OIDC');
  return s.join(' · ') || t('active');
}

export function usersSection(who: Who): HTMLElement {
  const { el, status, body } = adminSection('users', t('users'));
  const manage = may(who, MAY.manageAccounts);
  // The security administrator gives any roles; an institution
  // administrator clinical roles in their institution (the server checks).
  const assign = may(who, MAY.assignRoles) || (who.kind === 'signed-in' && who.principal.roles.includes('institution-admin'));
  const once = h('div');
  const list = h('div');
  const op = async (u: User, what: string, body?: unknown) => {
    const done = await attempt(status, async () => {
      const answer = await api<{ password?: string }>('POST', `/api/admin/users/${encodeURIComponent(u.user_id)}/${what}`, body);
      if (answer?.password) once.append(shownOnce('new-password', t('passwordFor', { name: u.username }), answer.password));
    }, t('saved'));
    if (done) void load();
  };
  const rolesCell = (u: User): Node => {
    if (!assign) return document.createTextNode(u.roles.map(roleName).join('、'));
    const input = h('input', { value: u.roles.join(','), size: 24, list: 'yy-roles', 'data-testid': 'user-roles-input', 'aria-label': t('roles') });
    return h('span', { class: 'inline' }, input, h('button', { type: 'button', 'data-testid': 'user-roles-save', onclick: () => {
      void op(u, 'roles', { roles: input.value.split(',').map((r) => r.trim()).filter(Boolean) });
    } }, t('save')));
  };
  const actions = (u: User): Node[] => {
    if (!manage) return [];
    const b = (label: string, what: string, testid: string) => h('button', { type: 'button', 'data-testid': testid, onclick: () => void op(u, what) }, label);
    const out = [u.disabled ? b(t('enable'), 'enable', 'user-enable') : b(t('disable'), 'disable', 'user-disable')];
    if (u.locked_until_ms) out.push(b(t('unlock'), 'unlock', 'user-unlock'));
    out.push(h('button', { type: 'button', 'data-testid': 'user-reset-password', onclick: () => {
      if (window.confirm(t('resetPasswordConfirm', { name: u.username }))) void op(u, 'reset-password', {});
    } }, t('resetPassword')));
    if (u.totp) out.push(h('button', { type: 'button', 'data-testid': 'user-reset-totp', onclick: () => {
      if (window.confirm(t('resetTotpConfirm', { name: u.username }))) void op(u, 'reset-totp', {});
    } }, t('resetTotp')));
    return out;
  };
  const load = async () => {
    await attempt(status, async () => {
      const { users } = await api<{ users: User[] }>('GET', '/api/admin/users');
      clear(list);
      list.append(table<User>('users-table', [
        { label: t('username'), value: (u) => u.username },
        { label: t('displayName'), value: (u) => u.display_name },
        { label: t('institution'), value: (u) => u.institution ?? t('platform') },
        { label: t('roles'), value: rolesCell },
        { label: t('state'), value: userState },
        { label: t('created'), value: (u) => formatTime(u.created_ms) },
      ], users, manage ? actions : undefined));
    });
  };
  body.append(h('datalist', { id: 'yy-roles' }, ...ROLES.map((r) => h('option', { value: r }, roleName(r)))));
  if (manage) {
    const username = field('user-name', t('username'), { required: true, autocomplete: 'off' });
    const display = field('user-display', t('displayName'));
    const institution = field('user-institution', t('institutionCode'), { placeholder: t('platformHint') });
    const roles = field('user-roles', t('roles'), { placeholder: 'radiologist', list: 'yy-roles' });
    const form = h('form', { class: 'admin-form', onsubmit: async (e: Event) => {
      e.preventDefault();
      clear(once);
      const req: Record<string, unknown> = {
        username: username.input.value.trim(), display_name: display.input.value.trim(),
        roles: roles.input.value.split(',').map((r) => r.trim()).filter(Boolean),
      };
      if (institution.input.value.trim()) req.institution = institution.input.value.trim();
      // No password field: the server generates one, shown here once, to hand over.
      const ok = await attempt(status, async () => {
        const answer = await api<{ user: User; password?: string }>('POST', '/api/admin/users', req);
        if (answer.password) once.append(shownOnce('new-password', t('passwordFor', { name: answer.user.username }), answer.password));
      }, t('saved'));
      if (ok) {
        username.input.value = '';
        display.input.value = '';
        void load();
      }
    } }, username.label, display.label, institution.label, roles.label, h('button', { type: 'submit', 'data-testid': 'user-create' }, t('create')));
    body.append(form);
  }
  body.append(once, list);
  void load();
  return el;
}

interface Session {
  session_id: string;
  user_id: string;
  username: string;
  institution: string | null;
  created_ms: number;
  last_seen_ms: number;
  absolute_expires_ms: number;
  client: string;
  user_agent: string;
  enrolment_only: boolean;
}

export function sessionsSection(): HTMLElement {
  const { el, status, body } = adminSection('sessions', t('sessions'));
  const list = h('div');
  const load = async () => {
    await attempt(status, async () => {
      const { sessions } = await api<{ sessions: Session[] }>('GET', '/api/admin/sessions');
      clear(list);
      list.append(table<Session>('sessions-table', [
        { label: t('username'), value: (s) => s.username + (s.enrolment_only ? ` (${t('enrolOnly')})` : '') },
        { label: t('institution'), value: (s) => s.institution ?? t('platform') },
        { label: t('created'), value: (s) => formatTime(s.created_ms) },
        { label: t('lastSeen'), value: (s) => formatTime(s.last_seen_ms) },
        { label: t('expires'), value: (s) => formatTime(s.absolute_expires_ms) },
        { label: t('client'), value: (s) => `${s.client} ${s.user_agent.slice(0, 40)}` },
      ], sessions, (s) => [h('button', { type: 'button', 'data-testid': 'session-end', onclick: async () => {
        if (await attempt(status, () => api('DELETE', `/api/admin/sessions/${encodeURIComponent(s.session_id)}`))) void load();
      } }, t('endSession'))]));
    });
  };
  body.append(h('button', { type: 'button', onclick: () => void load() }, t('refresh')), list);
  void load();
  return el;
}
