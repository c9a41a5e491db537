// The text of an arrow annotation, asked in a small dialog in the page
// (Cornerstone's default, window.prompt, blocks the page and headless tests).

import { h } from './dom';
import { t } from './i18n';

/** Ask for a text; resolves to it (trimmed), or null when cancelled or empty. */
export function askText(initial = ''): Promise<string | null> {
  return new Promise((resolve) => {
    const input = h('input', { type: 'text', maxlength: 256, value: initial, 'data-testid': 'arrow-text' }) as HTMLInputElement;
    const done = (value: string | null) => {
      dialog.remove();
      resolve(value?.trim() ? value.trim() : null);
    };
    const dialog = h('form', { class: 'annot-dialog', role: 'dialog', 'aria-label': t('arrowText'), 'data-testid': 'arrow-text-dialog' },
      h('label', {}, t('arrowText'), input),
      h('div', { class: 'buttons' },
        h('button', { type: 'submit', 'data-testid': 'arrow-text-ok' }, t('ok')),
        h('button', { type: 'button', 'data-testid': 'arrow-text-cancel', onclick: () => done(null) }, t('cancel'))));
    dialog.addEventListener('submit', (e) => {
      e.preventDefault();
      done(input.value);
    });
    dialog.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Escape') done(null);
    });
    document.body.append(dialog);
    input.focus();
  });
}

/** ArrowAnnotateTool's configuration: its text from the dialog; a new arrow without text is dropped. */
export const arrowTextConfiguration = {
  getTextCallback: (done: (text: string) => void) => void askText().then((text) => done(text ?? '')),
  changeTextCallback: (annotation: { data?: { label?: string } }, _event: unknown, done: (text: string) => void) => {
    const before = annotation.data?.label ?? '';
    void askText(before).then((text) => done(text ?? before));
  },
};
