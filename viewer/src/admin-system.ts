// Administration: API keys (security administrator), the AE registry
// (system administrator).

import { api, formatTime } from './api';
import { clear, h } from './dom';
import { t } from './i18n';
import { adminSection, attempt, field, shownOnce, table } from './admin';

interface Key {
  key_id: string;
  name: string;
  institution: string | null;
  scopes: string;
  created_ms: number;
  created_by: string;
  last_used_ms: number | null;
  revoked_ms: number | null;
}

export function keysSection(): HTMLElement {
  const { el, status, body } = adminSection('keys', t('keys'));
  const once = h('div', { 'data-testid': 'key-once' });
  const list = h('div');
  const load = async () => {
    await attempt(status, async () => {
      const keys = await api<Key[]>('GET', '/api/admin/keys');
      clear(list);
      list.append(table<Key>('keys-table', [
        { label: t('keyName'), value: (k) => k.name },
        { label: t('institution'), value: (k) => k.institution ?? t('platform') },
        { label: t('scopes'), value: (k) => k.scopes },
        { label: t('created'), value: (k) => `${formatTime(k.created_ms)} ${k.created_by}` },
        { label: t('lastUsed'), value: (k) => formatTime(k.last_used_ms) },
        { label: t('state'), value: (k) => (k.revoked_ms ? t('revoked') : t('active')) },
      ], keys, (k) => (k.revoked_ms ? [] : [h('button', { type: 'button', 'data-testid': 'key-revoke', onclick: async () => {
        if (!window.confirm(t('revokeConfirm', { name: k.name }))) return;
        if (await attempt(status, () => api('POST', `/api/admin/keys/${encodeURIComponent(k.key_id)}/revoke`))) void load();
      } }, t('revoke'))])));
    });
  };
  const name = field('key-name', t('keyName'), { required: true });
  const institution = field('key-institution', t('institutionCode'), { placeholder: t('platformHint') });
  const scopes = field('key-scopes', t('scopes'), { required: true, value: 'dicomweb:read', placeholder: 'dicomweb:read,stow,films:create' });
  const form = h('form', { class: 'admin-form', onsubmit: async (e: Event) => {
    e.preventDefault();
    clear(once);
    const body: Record<string, string> = { name: name.input.value.trim(), scopes: scopes.input.value.trim() };
    if (institution.input.value.trim()) body.institution = institution.input.value.trim();
    await attempt(status, async () => {
      const created = await api<Key & { key: string }>('POST', '/api/admin/keys', body);
      once.append(shownOnce('new-key', t('keyCreated', { name: created.name }), created.key));
      name.input.value = '';
      void load();
    });
  } }, name.label, institution.label, scopes.label, h('button', { type: 'submit', 'data-testid': 'key-create' }, t('create')));
  body.append(form, once, list);
  void load();
  return el;
}

interface Ae {
  ae_title: string;
  host: string;
  port: number;
  institution: string;
  rights: string[];
}

export function aesSection(): HTMLElement {
  const { el, status, body } = adminSection('aes', t('aes'));
  const list = h('div');
  const load = async () => {
    await attempt(status, async () => {
      const aes = await api<Ae[]>('GET', '/api/admin/aes');
      clear(list);
      list.append(table<Ae>('aes-table', [
        { label: t('aeTitle'), value: (a) => a.ae_title },
        { label: t('host'), value: (a) => `${a.host}:${a.port}` },
        { label: t('institution'), value: (a) => a.institution || t('platform') },
        { label: t('rights'), value: (a) => (a.rights.length ? a.rights.join(',') : 'none') },
      ], aes, (a) => [h('button', { type: 'button', 'data-testid': 'ae-remove', onclick: async () => {
        if (!window.confirm(t('removeConfirm', { name: a.ae_title }))) return;
        if (await attempt(status, () => api('POST', `/api/admin/aes/${encodeURIComponent(a.ae_title)}/remove`))) void load();
      } }, t('remove'))]));
    });
  };
  const title = field('ae-title', t('aeTitle'), { required: true, maxlength: 16 });
  const host = field('ae-host', t('host'), { required: true });
  const port = field('ae-port', t('port'), { required: true, type: 'number', min: 1, max: 65535, value: 104 });
  const institution = field('ae-institution', t('institutionCode'), { placeholder: t('platformHint') });
  const rights = field('ae-rights', t('rights'), { required: true, value: 'store,find', placeholder: 'store,find,move,get,commit | none' });
  const form = h('form', { class: 'admin-form', onsubmit: async (e: Event) => {
    e.preventDefault();
    const ok = await attempt(status, () => api('POST', '/api/admin/aes', {
      ae_title: title.input.value.trim(), host: host.input.value.trim(), port: Number(port.input.value),
      institution: institution.input.value.trim(), rights: rights.input.value.trim(),
    }), t('saved'));
    if (ok) {
      title.input.value = '';
      void load();
    }
  } }, title.label, host.label, port.label, institution.label, rights.label, h('button', { type: 'submit', 'data-testid': 'ae-add' }, t('add')));
  body.append(form, list);
  void load();
  return el;
}
