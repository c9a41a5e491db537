// Remote reading's administration (system administrator): the reading
// relationships (which institution reads for which, modalities, two-step
// signing, turnaround targets, where reports go back) and the report
// templates, each edited as JSON. Saving puts every entry
// (`PUT /api/reading/relationships`, `PUT /api/reading/templates/{id}`)
// and removes the stored ones no longer listed; the server checks each
// entry and its refusal is shown. Only on a node that does remote reading.

import { h } from './dom';
import { lang } from './i18n';
import { adminSection, attempt } from './admin';
import { Relationship, Template, reading } from './reading-api';

const LABELS = {
  title: ['远程阅片：诊断关系与报告模板', 'Remote reading: relationships and templates'],
  relationships: ['诊断关系（JSON 数组）', 'Relationships (JSON array)'],
  templates: ['报告模板（JSON 数组）', 'Templates (JSON array)'],
  save: ['保存', 'Save'],
  reload: ['重新读取', 'Reload'],
  saved: ['已保存 {n} 项，删除 {m} 项', '{n} saved, {m} removed'],
  notArray: ['须为 JSON 数组', 'Must be a JSON array'],
  badJson: ['JSON 有误：{m}', 'Not JSON: {m}'],
  needKeys: ['每项须有 {keys}', 'Every entry needs {keys}'],
} as const;

function l(key: keyof typeof LABELS, vars: Record<string, string | number> = {}): string {
  return LABELS[key][lang() === 'zh' ? 0 : 1].replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
}

/** Parse `text` as an array of objects that have `keys`. */
function entries<T>(text: string, keys: string[]): T[] {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(l('badJson', { m: (e as Error).message }));
  }
  if (!Array.isArray(v)) throw new Error(l('notArray'));
  for (const x of v) {
    if (!x || typeof x !== 'object' || keys.some((k) => typeof (x as Record<string, unknown>)[k] !== 'string')) {
      throw new Error(l('needKeys', { keys: keys.join(', ') }));
    }
  }
  return v as T[];
}

/**
 * One JSON editor: `load` fills it, `save` stores what it holds (put each
 * entry, remove those gone) and says how many.
 */
function editor<T>(id: string, title: string, status: HTMLElement, load: () => Promise<T[]>,
  save: (now: T[], before: T[]) => Promise<[number, number]>, keys: string[]): HTMLElement {
  const text = h('textarea', { rows: 14, spellcheck: false, class: 'admin-json', 'data-testid': `reading-admin-${id}` }) as HTMLTextAreaElement;
  let stored: T[] = [];
  const fill = () => attempt(status, async () => {
    stored = await load();
    text.value = JSON.stringify(stored, null, 2);
  });
  const saveButton = h('button', { type: 'button', class: 'primary', 'data-testid': `reading-admin-${id}-save` }, l('save'));
  saveButton.onclick = async () => {
    let done: [number, number] = [0, 0];
    const ok = await attempt(status, async () => { done = await save(entries<T>(text.value, keys), stored); });
    if (ok) {
      await fill();
      status.textContent = `${title}: ${l('saved', { n: done[0], m: done[1] })}`;
    }
  };
  void fill();
  return h('div', { class: 'admin-reading-block' },
    h('h3', {}, title), text,
    h('div', { class: 'actions' },
      h('button', { type: 'button', 'data-testid': `reading-admin-${id}-reload`, onclick: () => void fill() }, l('reload')),
      saveButton));
}

/**
 * Append the section to `page` when this node does remote reading (its
 * relationships answer): a node without it shows no such section.
 */
export async function addReadingAdminSection(page: HTMLElement): Promise<void> {
  try {
    await reading.relationships();
  } catch {
    return;
  }
  if (page.isConnected) page.append(readingAdminSection());
}

function readingAdminSection(): HTMLElement {
  const { el, status, body } = adminSection('remote-reading', l('title'));
  body.append(
    editor<Relationship>('relationships', l('relationships'), status, reading.relationships, async (now, before) => {
      for (const r of now) await reading.putRelationship(r);
      const gone = before.filter((b) => !now.some((r) => r.requesting === b.requesting && r.reading === b.reading));
      for (const r of gone) await reading.removeRelationship(r.requesting, r.reading);
      return [now.length, gone.length];
    }, ['requesting', 'reading']),
    editor<Template>('templates', l('templates'), status, reading.templates, async (now, before) => {
      for (const t of now) await reading.putTemplate(t);
      const gone = before.filter((b) => !now.some((t) => t.id === b.id));
      for (const t of gone) await reading.removeTemplate(t.id);
      return [now.length, gone.length];
    }, ['id', 'name', 'modality']),
  );
  return el;
}
