// Asking another institution to read a study (申请远程诊断), from the study
// reader (`#/study/{uid}`): the action, for a principal who may "ask
// another institution to read a study" and only on a study of their own
// institution, and its form (reading institution, priority, clinical
// information, HIS order). The server decides (relationship, one request
// per study and reading institution, role); its refusal is shown in the
// form. A request made opens at `#/reading/{request_id}`.

import { StudyAccess } from './access';
import { h } from './dom';
import { MAX_CLINICAL, MAX_HIS_ORDER, NewRequest, PRIORITIES, READING_MAY, Relationship, reading } from './reading-api';
import { rl, rlOf } from './reading-i18n';
import { refusal } from './reading-report';
import { Who, may } from './session';

/** Report objects never make a study readable (the server's `covers`). */
const NOT_IMAGES = ['SR', 'KO', 'PR', 'DOC'];

/**
 * The reader's "Request remote reading" button, or nothing when the
 * principal may not ask or the study is not their institution's.
 * `modalities` are the study's, to choose a relationship that covers it.
 */
export function requestReadingAction(who: Who, study: string, access: StudyAccess, modalities: () => string[]): HTMLElement | null {
  if (!may(who, READING_MAY.request) || access.reached !== 'own') return null;
  return h('button', {
    type: 'button', class: 'primary', 'data-testid': 'reading-new-open',
    onclick: () => void requestReadingDialog(who, study, modalities()),
  }, rl('requestReading'));
}

/** Whether `r` reads `modalities` (its body parts are the server's to check). */
function covers(r: Relationship, modalities: string[]): boolean {
  const images = modalities.filter((m) => !NOT_IMAGES.includes(m));
  const wanted = r.modalities ?? [];
  return images.length > 0 && (wanted.length === 0 || images.some((m) => wanted.some((w) => w.toUpperCase() === m.toUpperCase())));
}

/**
 * The reading institutions the principal's institution may ask (every one
 * it sees when it has none, as for a platform key), one per code, those
 * that cover the study first.
 */
export function readingChoices(all: Relationship[], institution: string | null, modalities: string[]): Relationship[] {
  const mine: Relationship[] = [];
  for (const r of all) {
    if ((!institution || r.requesting === institution) && !mine.some((m) => m.reading === r.reading)) mine.push(r);
  }
  return [...mine.filter((r) => covers(r, modalities)), ...mine.filter((r) => !covers(r, modalities))];
}

/** The form, as a modal dialog over the reader. */
export async function requestReadingDialog(who: Who, study: string, modalities: string[]): Promise<HTMLDialogElement> {
  const institution = who.kind === 'signed-in' ? who.principal.institution : null;
  const error = h('div', { class: 'rd-message error', role: 'alert', 'data-testid': 'reading-new-error' });
  const select = h('select', { name: 'reading', 'data-testid': 'reading-new-institution' }, h('option', { value: '' }, rl('loading')));
  const priority = h('select', { name: 'priority', 'data-testid': 'reading-new-priority' },
    ...[...PRIORITIES].reverse().map((p) => h('option', { value: p }, rlOf('', p))));
  const clinical = h('textarea', { name: 'clinical_info', rows: 5, maxlength: MAX_CLINICAL, 'data-testid': 'reading-new-clinical' });
  const count = h('span', { class: 'muted rd-count', 'data-testid': 'reading-new-count' });
  const order = h('input', { name: 'his_order_id', maxlength: MAX_HIS_ORDER, autocomplete: 'off', 'data-testid': 'reading-new-his-order' });
  const submit = h('button', { type: 'submit', class: 'primary', disabled: true, 'data-testid': 'reading-new-submit' }, rl('sendRequest'));
  const dialog = h('dialog', { class: 'rd-dialog', 'data-testid': 'reading-new-dialog', 'data-study': study });
  const close = () => {
    if (dialog.open) dialog.close();
    dialog.remove();
  };
  // Closed by Escape too; gone when the page goes elsewhere.
  dialog.addEventListener('close', () => dialog.remove());
  window.addEventListener('hashchange', close, { once: true });

  const counted = () => { count.textContent = rl('characters', { n: [...clinical.value].length, max: MAX_CLINICAL }); };
  clinical.addEventListener('input', counted);
  counted();
  let choices: Relationship[] = [];
  // A relationship's own priority is the default until the user picks one.
  let priorityChosen = false;
  priority.addEventListener('change', () => { priorityChosen = true; });
  select.addEventListener('change', () => {
    error.textContent = '';
    const r = choices.find((c) => c.reading === select.value);
    if (!priorityChosen && r?.priority && (PRIORITIES as readonly string[]).includes(r.priority)) priority.value = r.priority;
  });

  const form = h('form', {
    class: 'rd-form', novalidate: true,
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.textContent = '';
      if (!select.value) {
        error.textContent = rl('chooseReading');
        return;
      }
      const body: NewRequest = {
        study_instance_uid: study,
        reading: select.value,
        priority: priority.value as NewRequest['priority'],
        clinical_info: clinical.value.trim(),
        his_order_id: order.value.trim(),
      };
      submit.disabled = true;
      try {
        const made = await reading.create(body);
        close();
        location.hash = `#/reading/${made.request_id}`;
      } catch (err) {
        // The server's refusal (409 already requested, 403 not allowed, 400 invalid).
        error.textContent = refusal(err);
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('h2', {}, rl('requestReading')),
  h('p', { class: 'muted' }, rl('requestReadingHint')),
  h('label', {}, rl('readingInstitution'), select),
  h('label', {}, rl('priority'), priority),
  h('label', {}, rl('clinical'), clinical, count),
  h('label', {}, rl('hisOrderOptional'), order),
  error,
  h('div', { class: 'actions' },
    h('button', { type: 'button', 'data-testid': 'reading-new-close', onclick: close }, rl('close')),
    submit));
  dialog.append(form);
  document.body.append(dialog);
  dialog.showModal();

  try {
    choices = readingChoices(await reading.relationships(), institution, modalities);
  } catch (err) {
    select.replaceChildren();
    error.textContent = refusal(err);
    return dialog;
  }
  const label = (r: Relationship) => `${r.reading} · ${r.modalities?.length ? r.modalities.join(', ') : rl('allModalities')}`;
  select.replaceChildren(...choices.map((r) => h('option', { value: r.reading, 'data-covers': String(covers(r, modalities)) }, label(r))));
  if (!choices.length) {
    error.textContent = rl('noRelationship');
    return dialog;
  }
  select.value = choices[0].reading;
  select.dispatchEvent(new Event('change'));
  submit.disabled = false;
  return dialog;
}
