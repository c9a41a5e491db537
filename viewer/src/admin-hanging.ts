// Administration: the viewer's hanging protocols (system administrator).
// The list as JSON in a text area, checked here with the viewer's own rules
// (hanging.ts `validate`) before it is sent, and by the server
// (yunying-hanging) before it is stored; the server's refusal is shown as
// it says it. "Restore defaults" goes back to the built-in list.

import { api, formatTime } from './api';
import { h } from './dom';
import { Protocol, validate } from './hanging';
import { t } from './i18n';
import { adminSection, attempt } from './admin';

interface Stored {
  protocols: Protocol[];
  stored: boolean;
  updated_ms?: number;
  updated_by?: string;
}

/** The section, when this server keeps hanging protocols (a plain DICOMweb server does not). */
export async function addHangingSection(page: HTMLElement): Promise<void> {
  let first: Stored;
  try {
    first = await api<Stored>('GET', '/api/viewer/hanging-protocols');
  } catch {
    return;
  }
  page.append(hangingSection(first));
}

function hangingSection(first: Stored): HTMLElement {
  const { el, status, body } = adminSection('hanging', t('hangingAdmin'));
  el.classList.add('admin-hanging');
  const text = h('textarea', { 'data-testid': 'hanging-json', spellcheck: 'false' });
  const problems = h('div', { class: 'problems', 'data-testid': 'hanging-problems' });
  const info = h('p', { class: 'muted', 'data-testid': 'hanging-info' });
  const show = (s: Stored) => {
    text.value = JSON.stringify({ protocols: s.protocols }, null, 2);
    info.textContent = s.stored ? t('hangingUpdated', { by: s.updated_by ?? '', when: formatTime(s.updated_ms ?? null) }) : t('hangingDefaults');
  };
  const check = (): unknown | undefined => {
    problems.textContent = '';
    let list: unknown;
    try {
      list = JSON.parse(text.value);
    } catch (e) {
      problems.textContent = (e as Error).message;
      return undefined;
    }
    const found = validate(list);
    problems.textContent = found.join('\n');
    return found.length ? undefined : list;
  };
  text.addEventListener('input', () => void check());
  const save = h('button', { type: 'button', 'data-testid': 'hanging-save', onclick: async () => {
    const list = check();
    if (list === undefined) return;
    await attempt(status, async () => show(await api<Stored>('PUT', '/api/viewer/hanging-protocols', list)), t('hangingSaved'));
  } }, t('hangingSave'));
  const reset = h('button', { type: 'button', 'data-testid': 'hanging-reset', onclick: async () => {
    await attempt(status, async () => show(await api<Stored>('DELETE', '/api/viewer/hanging-protocols')), t('hangingSaved'));
  } }, t('hangingReset'));
  body.append(h('p', { class: 'muted' }, t('hangingAdminHelp')), info, text, problems, h('div', { class: 'admin-form' }, save, reset));
  show(first);
  return el;
}
