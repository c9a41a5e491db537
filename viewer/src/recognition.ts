// The recognition panel (检查互认) for one order, `#/recognition/{order}`:
// the prior results the HIS was offered (institution, date, HR mark), the
// chosen one's images beside the panel once the doctor asks for them (a
// recognition-request grant for that doctor and study only), and the
// decision: recognised / partially / not recognised with a standard or
// local reason, a note, "patient informed" and the re-exam order. The
// server records how long the images were open; the panel shows it.

import { accessBanner, studyAccess } from './access';
import { ApiError, api, formatTime } from './api';
import { DicomWeb } from './dicomweb';
import { clear, h } from './dom';
import { lang } from './i18n';
import { Reader } from './viewer';

interface Decision {
  version: number;
  outcome: Outcome;
  reason: string | null;
  patient_informed: boolean;
  doctor: string;
  opened_ms: number;
  decided_ms: number;
}

interface Candidate {
  study_instance_uid: string;
  institution: string;
  study_date: string;
  age_days: number;
  hr: boolean;
  hr_scope: string;
  decision: Decision | null;
}

export interface OrderView {
  order_id: string;
  his_order_id: string;
  item_code: string;
  item_name: string;
  order_date: string;
  institution: string;
  department: string;
  candidates: Candidate[];
  reasons: [string, string][];
}

type Outcome = 'recognised' | 'partial' | 'not-recognised';
const OUTCOMES: Outcome[] = ['recognised', 'partial', 'not-recognised'];

const LABELS = {
  zh: {
    title: '检查结果互认', order: '申请单', item: '项目', orderDate: '开单日期', department: '科室',
    candidates: '可互认的既往结果', none: '没有可互认的既往结果', hr: 'HR 质控合格', noHr: '无 HR 标识',
    daysAgo: '{n} 天前', open: '调阅影像（互认申请）', openExplain: '调阅将为您本人开通此检查的访问权限，并记录在审计日志中。',
    opening: '正在申请…', decision: '互认决定', recognised: '互认', partial: '部分互认', 'not-recognised': '不予互认',
    reason: '不予互认理由', note: '说明', informed: '已告知患者', reexam: '复查申请单号', submit: '提交决定',
    decided: '已决定：{outcome}', opened: '影像调阅时长：{s} 秒', notOpened: '未调阅影像即作出决定',
    reasonNeeded: '请选择理由', by: '决定医生：{who} · {time}', images: '影像',
  },
  en: {
    title: 'Mutual recognition of exams', order: 'Order', item: 'Item', orderDate: 'Order date', department: 'Department',
    candidates: 'Recognisable prior results', none: 'No recognisable prior results', hr: 'HR quality mark', noHr: 'no HR mark',
    daysAgo: '{n} days before', open: 'Open images (recognition request)', openExplain: 'Opening gives you alone access to this study, and is recorded in the audit ledger.',
    opening: 'Requesting…', decision: 'Decision', recognised: 'Recognised', partial: 'Partially recognised', 'not-recognised': 'Not recognised',
    reason: 'Reason', note: 'Note', informed: 'Patient informed', reexam: 'Re-exam order number', submit: 'Record decision',
    decided: 'Decided: {outcome}', opened: 'Images open for {s} s', notOpened: 'Decided without opening the images',
    reasonNeeded: 'Choose a reason', by: 'By {who} · {time}', images: 'Images',
  },
};
type Label = keyof typeof LABELS.zh;

function l(key: Label, vars: Record<string, string | number> = {}): string {
  return LABELS[lang()][key].replace(/\{(\w+)\}/g, (_, k: string) => String(vars[k] ?? ''));
}

function date(d: string): string {
  return /^\d{8}$/.test(d) ? `${d.slice(0, 4)}-${d.slice(4, 6)}-${d.slice(6)}` : d;
}

/**
 * Render the panel for `orderId` into `root`, with `selected` (or the
 * first candidate) chosen. `banner` holds the access banner of the images;
 * `onReader` gets the reader of the images (the entry point destroys it
 * when the route changes).
 */
export async function renderRecognition(
  root: HTMLElement, banner: HTMLElement, web: DicomWeb, orderId: string, selected: string | undefined,
  back: () => void, onReader: (r: Reader) => void,
): Promise<void> {
  clear(root);
  let order: OrderView;
  try {
    order = await api<OrderView>('GET', `/api/recognition/orders/${encodeURIComponent(orderId)}`);
  } catch (e) {
    root.append(h('section', { class: 'refusal', 'data-testid': 'recognition-error' },
      h('h1', {}, l('title')), h('p', {}, (e as Error).message),
      h('button', { type: 'button', onclick: back }, '←')));
    return;
  }
  const chosen = order.candidates.find((c) => c.study_instance_uid === selected) ?? order.candidates[0];
  const images = h('div', { class: 'rec-images', 'data-testid': 'recognition-images' });
  const panel = h('aside', { class: 'rec-panel', 'data-testid': 'recognition-panel' });
  root.append(h('section', { class: 'recognition' }, images, panel));

  panel.append(
    h('h1', {}, l('title')),
    h('dl', { class: 'rec-order' },
      h('dt', {}, l('item')), h('dd', { 'data-testid': 'recognition-item' }, `${order.item_name} (${order.item_code})`),
      h('dt', {}, l('orderDate')), h('dd', {}, date(order.order_date)),
      h('dt', {}, l('department')), h('dd', {}, order.department || '—'),
      h('dt', {}, l('order')), h('dd', {}, order.his_order_id || order.order_id)),
    h('h2', {}, l('candidates')),
  );
  if (!chosen) {
    panel.append(h('p', { class: 'muted', 'data-testid': 'recognition-none' }, l('none')));
    return;
  }
  const list = h('ul', { class: 'rec-candidates', 'data-testid': 'recognition-candidates' });
  for (const c of order.candidates) {
    const here = c === chosen;
    list.append(h('li', { class: here ? 'on' : '', 'data-study': c.study_instance_uid, 'data-testid': 'recognition-candidate' },
      h('a', { href: `#/recognition/${order.order_id}?study=${c.study_instance_uid}` },
        h('strong', {}, c.institution), ' · ', date(c.study_date), ' · ', l('daysAgo', { n: c.age_days })),
      ' ',
      h('span', { class: c.hr ? 'badge hr' : 'badge', 'data-testid': 'recognition-hr' }, c.hr ? `${l('hr')} ${c.hr_scope}` : l('noHr')),
      c.decision ? h('span', { class: 'muted' }, ` · ${l(c.decision.outcome)}`) : null));
  }
  panel.append(list);

  const showImages = async () => {
    clear(images);
    clear(banner);
    const access = await studyAccess(chosen.study_instance_uid);
    if (access.reached === 'refused') {
      const status = h('p', { class: 'muted' }, l('openExplain'));
      const button = h('button', {
        type: 'button', class: 'primary', 'data-testid': 'recognition-open',
        onclick: async () => {
          button.disabled = true;
          status.textContent = l('opening');
          try {
            await api('POST', `/api/recognition/orders/${encodeURIComponent(order.order_id)}/open`, { study_instance_uid: chosen.study_instance_uid });
            await showImages();
          } catch (e) {
            status.textContent = (e as Error).message;
            button.disabled = false;
          }
        },
      }, l('open'));
      images.append(h('div', { class: 'rec-closed' }, h('h2', {}, l('images')), button, status));
      return;
    }
    const shown = accessBanner(access);
    if (shown) banner.append(shown);
    const reader = new Reader(web, back);
    onReader(reader);
    await reader.open(images, chosen.study_instance_uid);
  };

  panel.append(h('h2', {}, l('decision')));
  const decisionBox = h('div', { 'data-testid': 'recognition-decision' });
  panel.append(decisionBox);
  const showDecision = (d: Decision) => {
    clear(decisionBox);
    const reason = d.reason ? order.reasons.find(([code]) => code === d.reason)?.[1] ?? d.reason : '';
    decisionBox.append(
      h('p', { 'data-testid': 'recognition-decided', 'data-outcome': d.outcome }, l('decided', { outcome: l(d.outcome) }), reason ? ` · ${reason}` : ''),
      h('p', { class: 'muted', 'data-testid': 'recognition-opened', 'data-ms': d.opened_ms },
        d.opened_ms > 0 ? l('opened', { s: Math.max(1, Math.round(d.opened_ms / 1000)) }) : l('notOpened')),
      h('p', { class: 'muted' }, l('by', { who: d.doctor, time: formatTime(d.decided_ms) })),
    );
  };
  if (chosen.decision) showDecision(chosen.decision);
  else decisionBox.append(decisionForm(order, chosen, showDecision));
  await showImages();
}

/** The decision form for one candidate; `done` shows what was recorded. */
function decisionForm(order: OrderView, c: Candidate, done: (d: Decision) => void): HTMLFormElement {
  const outcomes = OUTCOMES.map((o) => h('label', { class: 'inline' },
    h('input', { type: 'radio', name: 'outcome', value: o, 'data-testid': `outcome-${o}`, checked: o === 'recognised' }), ' ', l(o)));
  const reason = h('select', { name: 'reason', 'data-testid': 'recognition-reason' },
    h('option', { value: '' }, '—'),
    ...order.reasons.map(([code, label]) => h('option', { value: code }, `${code} · ${label}`)));
  const reasonRow = h('label', { hidden: true }, l('reason'), reason);
  const note = h('textarea', { name: 'note', rows: 2, maxlength: 1000, 'data-testid': 'recognition-note' });
  const informed = h('input', { type: 'checkbox', name: 'informed', 'data-testid': 'recognition-informed' });
  const reexam = h('input', { name: 'reexam', maxlength: 64, 'data-testid': 'recognition-reexam' });
  const error = h('div', { class: 'login-error', role: 'alert', 'data-testid': 'recognition-error-message' });
  const submit = h('button', { type: 'submit', class: 'primary', 'data-testid': 'recognition-submit' }, l('submit'));
  const outcome = () => (outcomes.map((o) => o.querySelector('input')!).find((i) => i.checked)?.value ?? 'recognised') as Outcome;
  const form = h('form', {
    class: 'rec-form',
    novalidate: true,
    onchange: () => { reasonRow.hidden = outcome() === 'recognised'; },
    onsubmit: async (e: Event) => {
      e.preventDefault();
      error.textContent = '';
      const o = outcome();
      if (o !== 'recognised' && !reason.value) {
        error.textContent = l('reasonNeeded');
        return;
      }
      submit.disabled = true;
      try {
        const made = await api<Decision>('POST', `/api/recognition/orders/${encodeURIComponent(order.order_id)}/decisions`, {
          study_instance_uid: c.study_instance_uid,
          outcome: o,
          reason: o === 'recognised' ? null : reason.value,
          note: note.value.trim(),
          patient_informed: informed.checked,
          reexam_order_id: reexam.value.trim(),
        });
        c.decision = made;
        done(made);
      } catch (err) {
        error.textContent = err instanceof ApiError ? err.message : String(err);
        submit.disabled = false;
      }
    },
  },
  h('div', { class: 'outcomes' }, ...outcomes),
  reasonRow,
  h('label', {}, l('note'), note),
  h('label', { class: 'inline' }, informed, ' ', l('informed')),
  h('label', {}, l('reexam'), reexam),
  error,
  submit);
  return form;
}
