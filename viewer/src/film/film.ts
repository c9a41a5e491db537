// The cloud film page (/f#<token>): what a patient opens from the QR code
// on their report or an SMS link, on a phone, with no app.
//
// Small on purpose (no Cornerstone): it paints from the previews the server
// rendered at ingest, so the first image appears one request after the
// verification answer. Window presets and window/level dragging ask the
// server to render from the original pixels. The link token stays in the
// URL fragment (never sent in a request line) and is posted in request
// bodies only; the session is an HttpOnly cookie scoped to this film.

import './film.css';
import { text, type Lang } from './text';

interface Series {
  uid: string;
  number: number | null;
  description: string;
  modality: string;
  thumbnail: string;
  instances: (string | [string, number])[];
}
interface Study {
  uid: string;
  date: string;
  description: string;
  institution: string;
  modalities: string;
  series: Series[];
}
interface Report { title: string; media_type: string; url: string }
interface Info {
  film_id: string;
  kind: string;
  patient: { name: string; sex: string } | null;
  studies: Study[];
  reports: Report[];
  download: boolean;
  share: boolean;
  recipient: string;
  expires_at_ms: number;
  dicomweb: string;
}
interface Opened { film_id: string; verify_method: string; verify_hint: string; institution: string; kind: string }
/** One image of the stack: an instance, and a frame of it. */
interface Slice { sop: string; frame: number; frames: number }
interface Window { c: number; w: number }

const PRESETS: Record<string, Window> = {
  soft: { c: 40, w: 400 },
  lung: { c: -600, w: 1500 },
  bone: { c: 400, w: 1800 },
  brain: { c: 40, w: 80 },
};

let lang: Lang = (localStorage.getItem('yunying.lang') as Lang) || (new URLSearchParams(location.search).get('lang') === 'en' ? 'en' : 'zh');
const T = (k: Parameters<typeof text>[1], vars: Record<string, string | number> = {}) => text(lang, k, vars);
const app = document.getElementById('app')!;

/** What tests and benchmarks read. */
const state = {
  stage: 'loading' as 'loading' | 'verify' | 'film' | 'closed',
  message: '',
  slice: 0,
  slices: 0,
  window: null as Window | null,
  preset: 'default',
  painted: 0,
  paintedUrl: '',
  verifiedAt: 0,
  attemptsLeft: null as number | null,
};
(window as unknown as { yunyingFilm: typeof state }).yunyingFilm = state;

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

async function post(url: string, body: unknown): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body), credentials: 'same-origin' });
}

/** The server writes its messages as "English / 中文": show the page's
 * language only (the other is one tap away, on the language button). */
export function inPageLanguage(message: string): string {
  const parts = message.split(' / ');
  if (parts.length !== 2) return message;
  const cjk = (s: string) => /[\u3400-\u9fff]/.test(s);
  const [zh, en] = cjk(parts[1]) ? [parts[1], parts[0]] : [parts[0], parts[1]];
  return (lang === 'zh' ? zh : en).trim();
}

async function errorOf(r: Response): Promise<string> {
  try {
    const j = await r.json();
    return j.error ? inPageLanguage(j.error) : `${r.status}`;
  } catch {
    return `${r.status} ${r.statusText}`;
  }
}

function closed(message: string): void {
  state.stage = 'closed';
  state.message = message;
  app.replaceChildren(h('section', { class: 'closed', 'data-testid': 'closed' }, h('h1', {}, T('closedTitle')), h('p', {}, message), h('p', { class: 'hint' }, T('closedHint'))));
}

const token = location.hash.slice(1);

async function start(): Promise<void> {
  document.getElementById('lang')!.textContent = lang === 'zh' ? 'EN' : '中文';
  if (!/^[A-Za-z0-9_-]{16,64}$/.test(token)) return closed(T('badLink'));
  const r = await post('/api/film/open', { token });
  if (!r.ok) return closed(await errorOf(r));
  const opened = (await r.json()) as Opened;
  // A session from earlier in this browser skips the question.
  const again = await fetch(`/api/film/${opened.film_id}/info`, { credentials: 'same-origin' });
  if (again.ok) return showFilm((await again.json()) as Info);
  askVerification(opened);
}

function askVerification(o: Opened): void {
  state.stage = 'verify';
  const method = o.verify_method;
  // ID numbers may end in X: a full keyboard for them, digits for the rest.
  const input = h('input', { id: 'answer', 'data-testid': 'answer', autocomplete: 'off', inputmode: method === 'id_suffix' ? 'text' : 'numeric', placeholder: T(`ph_${method}` as never) });
  const message = h('p', { class: 'message', 'data-testid': 'verify-message', role: 'alert' });
  const submit = h('button', { type: 'submit', 'data-testid': 'verify' }, T('verify'));
  const form = h('form', { class: 'verify', 'data-testid': 'verify-form' },
    h('h1', {}, o.institution || T('film')),
    h('label', { for: 'answer' }, T(`ask_${method}` as never, { hint: o.verify_hint })),
    input, submit, message);
  if (method === 'sms') {
    const send = h('button', { type: 'button', class: 'secondary', 'data-testid': 'send-code' }, T('sendCode'));
    send.onclick = async () => {
      const r = await post('/api/film/code', { token });
      message.textContent = r.ok ? T('codeSent', { to: (await r.json()).sent_to }) : await errorOf(r);
    };
    form.insertBefore(send, submit);
  }
  form.onsubmit = async (e) => {
    e.preventDefault();
    submit.disabled = true;
    const r = await post('/api/film/verify', { token, answer: input.value });
    submit.disabled = false;
    if (r.ok) {
      state.verifiedAt = performance.now();
      return showFilm(((await r.json()) as { info: Info }).info);
    }
    if (r.status === 401) {
      const j = await r.json();
      state.attemptsLeft = j.attempts_left ?? null;
      message.textContent = inPageLanguage(j.error);
      input.select();
      return;
    }
    const why = await errorOf(r);
    if (r.status === 423 || r.status === 410) return closed(why);
    message.textContent = why;
  };
  app.replaceChildren(form);
  input.focus();
}

function formatDate(da: string): string {
  return /^\d{8}$/.test(da) ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}` : da;
}

function showFilm(info: Info): void {
  state.stage = 'film';
  const viewer = new Stack(info);
  const studyTabs = h('div', { class: 'studies', 'data-testid': 'studies' });
  const seriesStrip = h('div', { class: 'series', 'data-testid': 'series' });
  const facts = h('div', { class: 'facts', 'data-testid': 'facts' });
  const openStudy = (study: Study) => {
    facts.replaceChildren(
      h('strong', {}, info.patient?.name ?? ''),
      h('span', {}, [info.patient?.sex, formatDate(study.date)].filter(Boolean).join(' · ')),
      h('span', {}, study.institution),
      h('span', {}, study.description));
    seriesStrip.replaceChildren(...study.series.map((se, i) => {
      const b = h('button', { type: 'button', class: 'thumb', 'data-testid': 'series-thumb', title: se.description },
        h('img', { src: se.thumbnail, alt: se.description || se.modality, loading: i < 6 ? 'eager' : 'lazy' }),
        h('span', {}, `${se.modality} ${se.number ?? ''} · ${se.instances.length}`));
      b.onclick = () => {
        for (const t of seriesStrip.children) t.classList.remove('active');
        b.classList.add('active');
        viewer.open(study, se);
      };
      return b;
    }));
    (seriesStrip.firstElementChild as HTMLButtonElement | null)?.click();
  };
  for (const study of info.studies) {
    const b = h('button', { type: 'button' }, `${formatDate(study.date)} ${study.modalities}`);
    b.onclick = () => {
      for (const t of studyTabs.children) t.classList.remove('active');
      b.classList.add('active');
      openStudy(study);
    };
    studyTabs.append(b);
  }
  app.replaceChildren(facts, info.studies.length > 1 ? studyTabs : '', viewer.element, seriesStrip, reports(info), actions(info));
  const first = info.studies.find((s) => s.series.length);
  if (first) {
    studyTabs.children[info.studies.indexOf(first)]?.classList.add('active');
    openStudy(first);
  }
}

/**
 * Images as object URLs, kept in the page's memory (the server marks film
 * images no-store, so nothing stays in the browser's cache after the
 * session): each URL fetched once, the oldest forgotten past the limit.
 */
class Images {
  private urls = new Map<string, Promise<string>>();
  constructor(private limit = 1200) {}

  get(url: string): Promise<string> {
    let p = this.urls.get(url);
    if (p) {
      this.urls.delete(url);
      this.urls.set(url, p);
      return p;
    }
    p = fetch(url, { credentials: 'same-origin' }).then(async (r) => {
      if (!r.ok) throw new Error(await errorOf(r));
      return URL.createObjectURL(await r.blob());
    });
    p.catch(() => this.urls.delete(url));
    this.urls.set(url, p);
    while (this.urls.size > this.limit) {
      const [oldest, q] = this.urls.entries().next().value as [string, Promise<string>];
      this.urls.delete(oldest);
      void q.then((u) => URL.revokeObjectURL(u), () => undefined);
    }
    return p;
  }
}

/** The image: a stack of previews on a canvas, with presets, W/L, zoom. */
class Stack {
  element: HTMLElement;
  private canvas = h('canvas', { 'data-testid': 'image' });
  private overlay = h('div', { class: 'overlay', 'data-testid': 'overlay' });
  private slider = h('input', { type: 'range', min: '1', max: '1', value: '1', 'data-testid': 'slider', 'aria-label': 'slice' });
  private study?: Study;
  private series?: Series;
  private slices: Slice[] = [];
  private index = 0;
  private window: Window | null = null;
  private defaultWindow: Window | null = null;
  private tool: 'scroll' | 'window' = 'scroll';
  private scale = 1;
  private pan = { x: 0, y: 0 };
  private generation = 0;
  private presetButtons = new Map<string, HTMLButtonElement>();
  private images = new Images();

  constructor(private info: Info) {
    const viewport = h('div', { class: 'viewport', 'data-testid': 'viewport' }, this.canvas, watermark(info), this.overlay);
    const presets = h('div', { class: 'tools' });
    for (const name of ['default', ...Object.keys(PRESETS)]) {
      const b = h('button', { type: 'button', 'data-testid': `preset-${name}` }, T(`preset_${name}` as never));
      b.onclick = () => this.setPreset(name);
      this.presetButtons.set(name, b);
      presets.append(b);
    }
    const toolButton = h('button', { type: 'button', 'data-testid': 'tool', class: 'secondary' }, T('toolScroll'));
    toolButton.onclick = () => {
      this.tool = this.tool === 'scroll' ? 'window' : 'scroll';
      toolButton.textContent = T(this.tool === 'scroll' ? 'toolScroll' : 'toolWindow');
    };
    presets.append(toolButton);
    this.slider.oninput = () => this.go(Number(this.slider.value) - 1);
    this.element = h('section', { class: 'stack' }, viewport, this.slider, presets);
    this.input(viewport);
  }

  open(study: Study, series: Series): void {
    this.study = study;
    this.series = series;
    this.slices = series.instances.flatMap((e) => {
      const [sop, frames] = typeof e === 'string' ? [e, 1] : e;
      return Array.from({ length: frames }, (_, i) => ({ sop, frame: i + 1, frames }));
    });
    this.index = 0;
    this.scale = 1;
    this.pan = { x: 0, y: 0 };
    this.defaultWindow = null;
    this.window = state.preset !== 'default' && PRESETS[state.preset] ? PRESETS[state.preset] : null;
    this.slider.max = String(Math.max(1, this.slices.length));
    state.slices = this.slices.length;
    this.transform();
    this.go(0);
    void this.loadDefaultWindow();
  }

  private url(i: number, window: Window | null): string {
    const s = this.slices[i];
    const base = `${this.info.dicomweb}/studies/${this.study!.uid}/series/${this.series!.uid}/instances/${s.sop}`;
    const path = s.frames > 1 ? `${base}/frames/${s.frame}/rendered` : `${base}/rendered`;
    return window ? `${path}?window=${Math.round(window.c)},${Math.max(1, Math.round(window.w))}` : path;
  }

  private go(i: number): void {
    if (!this.slices.length) return;
    this.index = Math.max(0, Math.min(this.slices.length - 1, i));
    this.slider.value = String(this.index + 1);
    void this.paint();
  }

  private async paint(): Promise<void> {
    const generation = ++this.generation;
    const url = this.url(this.index, this.window);
    const img = new Image();
    img.decoding = 'async';
    try {
      img.src = await this.images.get(url);
      await img.decode();
    } catch {
      if (generation === this.generation) this.overlay.textContent = T('imageFailed');
      return;
    }
    if (generation !== this.generation) return;
    const c = this.canvas;
    if (c.width !== img.naturalWidth || c.height !== img.naturalHeight) {
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
    }
    const g = c.getContext('2d')!;
    g.filter = 'none';
    g.drawImage(img, 0, 0);
    c.style.filter = '';
    state.slice = this.index + 1;
    state.window = this.window;
    state.paintedUrl = url;
    if (!state.painted) {
      state.painted = performance.now();
      performance.mark('yunying-first-image');
      this.prefetch();
    }
    this.writeOverlay();
  }

  /** Neighbouring previews in the background, nearest first, a few at a time. */
  private prefetch(): void {
    const order: number[] = [];
    for (let d = 1; d < this.slices.length; d++) {
      if (this.index + d < this.slices.length) order.push(this.index + d);
      if (this.index - d >= 0) order.push(this.index - d);
    }
    const series = this.series;
    let next = 0;
    const worker = async () => {
      while (next < order.length && series === this.series && !this.window) {
        await this.images.get(this.url(order[next++], null)).catch(() => undefined);
      }
    };
    for (let k = 0; k < 4; k++) void worker();
  }

  private writeOverlay(): void {
    const w = this.window ?? this.defaultWindow;
    this.overlay.textContent = `${this.index + 1} / ${this.slices.length}` + (w ? `   W ${Math.round(w.w)} L ${Math.round(w.c)}` : '');
  }

  /** The dataset's own window (for dragging from it), from one instance's metadata. */
  private async loadDefaultWindow(): Promise<void> {
    const s = this.slices[0];
    const series = this.series;
    try {
      const r = await fetch(`${this.info.dicomweb}/studies/${this.study!.uid}/series/${series!.uid}/instances/${s.sop}/metadata`, { headers: { Accept: 'application/dicom+json' } });
      if (!r.ok || series !== this.series) return;
      const [m] = await r.json();
      const c = Number(m?.['00281050']?.Value?.[0]);
      const w = Number(m?.['00281051']?.Value?.[0]);
      this.defaultWindow = Number.isFinite(c) && Number.isFinite(w) && w > 0 ? { c, w } : { c: 40, w: 400 };
      this.writeOverlay();
    } catch {
      this.defaultWindow = { c: 40, w: 400 };
    }
  }

  setPreset(name: string): void {
    state.preset = name;
    for (const [k, b] of this.presetButtons) b.classList.toggle('active', k === name);
    this.window = name === 'default' ? null : PRESETS[name];
    void this.paint();
  }

  private transform(): void {
    this.canvas.style.transform = `translate(${this.pan.x}px, ${this.pan.y}px) scale(${this.scale})`;
  }

  /** Wheel and swipe scroll; drag W/L (window tool); pinch and ctrl+wheel zoom; double tap resets. */
  private input(viewport: HTMLElement): void {
    let wheel = 0;
    viewport.addEventListener('wheel', (e) => {
      e.preventDefault();
      if (e.ctrlKey) {
        this.scale = Math.max(0.5, Math.min(8, this.scale * Math.exp(-e.deltaY / 300)));
        return this.transform();
      }
      wheel += e.deltaY;
      const steps = Math.trunc(wheel / 50) || Math.sign(wheel);
      wheel = 0;
      this.go(this.index + steps);
    }, { passive: false });
    const pointers = new Map<number, { x: number; y: number }>();
    let start: { x: number; y: number; index: number; window: Window; scale: number; dist: number; pan: { x: number; y: number } } | null = null;
    let lastTap = 0;
    const distance = () => {
      const [a, b] = [...pointers.values()];
      return a && b ? Math.hypot(a.x - b.x, a.y - b.y) : 0;
    };
    viewport.addEventListener('pointerdown', (e) => {
      try {
        viewport.setPointerCapture(e.pointerId);
      } catch {
        // a pointer the browser no longer tracks: follow it without capture
      }
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      const now = performance.now();
      if (pointers.size === 1 && now - lastTap < 300) {
        this.scale = 1;
        this.pan = { x: 0, y: 0 };
        this.transform();
      }
      lastTap = now;
      start = { x: e.clientX, y: e.clientY, index: this.index, window: this.window ?? this.defaultWindow ?? { c: 40, w: 400 }, scale: this.scale, dist: distance(), pan: { ...this.pan } };
    });
    viewport.addEventListener('pointermove', (e) => {
      if (!start || !pointers.has(e.pointerId)) return;
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (pointers.size >= 2) {
        if (!start.dist) start.dist = distance();
        this.scale = Math.max(0.5, Math.min(8, start.scale * (distance() / (start.dist || 1))));
        return this.transform();
      }
      const dx = e.clientX - start.x;
      const dy = e.clientY - start.y;
      if (this.tool === 'window') {
        const w = Math.max(1, start.window.w * Math.exp(dx / 200));
        const c = start.window.c + dy * (start.window.w / 400);
        this.window = { c, w };
        // Instant feedback on the current pixels; the exact rendering follows.
        const contrast = start.window.w / w;
        const brightness = 1 + (c - start.window.c) / -start.window.w;
        this.canvas.style.filter = `contrast(${contrast.toFixed(3)}) brightness(${Math.max(0, brightness).toFixed(3)})`;
        this.writeOverlay();
      } else if (this.scale > 1.01 && e.pointerType !== 'mouse') {
        this.pan = { x: start.pan.x + dx, y: start.pan.y + dy };
        this.transform();
      } else {
        this.go(start.index + Math.round(dy / 12));
      }
    });
    const up = (e: PointerEvent) => {
      pointers.delete(e.pointerId);
      if (pointers.size === 0 && start && this.tool === 'window' && this.window) {
        state.preset = 'custom';
        for (const b of this.presetButtons.values()) b.classList.remove('active');
        void this.paint();
      }
      if (pointers.size === 0) start = null;
    };
    viewport.addEventListener('pointerup', up);
    viewport.addEventListener('pointercancel', up);
    window.addEventListener('keydown', (e) => {
      if ((e.target as HTMLElement).tagName === 'INPUT' && (e.target as HTMLInputElement).type !== 'range') return;
      if (e.key === 'ArrowDown' || e.key === 'ArrowRight') this.go(this.index + 1);
      else if (e.key === 'ArrowUp' || e.key === 'ArrowLeft') this.go(this.index - 1);
      else return;
      e.preventDefault();
    });
  }
}

/** Who is looking and when, across the image. */
function watermark(info: Info): HTMLElement {
  const who = info.kind === 'share' ? info.recipient : `${info.patient?.name ?? ''} ${T('selfView')}`;
  const mark = h('div', { class: 'watermark', 'data-testid': 'watermark', 'aria-hidden': 'true' });
  const write = () => {
    const now = new Date();
    const pad = (n: number) => String(n).padStart(2, '0');
    const line = `${who} ${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())} ${pad(now.getHours())}:${pad(now.getMinutes())}`;
    mark.replaceChildren(...Array.from({ length: 12 }, () => h('span', {}, line)));
  };
  write();
  setInterval(write, 30_000);
  return mark;
}

function reports(info: Info): HTMLElement {
  const box = h('section', { class: 'reports', 'data-testid': 'reports' });
  if (!info.reports.length) return box;
  const body = h('div', { class: 'report-body', 'data-testid': 'report-body' });
  box.append(h('h2', {}, T('report')));
  for (const r of info.reports) {
    const b = h('button', { type: 'button', class: 'secondary', 'data-testid': 'report-open' }, r.title);
    b.onclick = async () => {
      if (r.media_type === 'application/pdf') {
        body.replaceChildren(h('iframe', { src: r.url, title: r.title, class: 'pdf' }), h('a', { href: r.url, target: '_blank', rel: 'noopener' }, T('openPdf')));
        return;
      }
      const resp = await fetch(r.url);
      body.replaceChildren(h('pre', { 'data-testid': 'report-text' }, resp.ok ? await resp.text() : await errorOf(resp)));
    };
    box.append(b);
  }
  box.append(body);
  return box;
}

function actions(info: Info): HTMLElement {
  const box = h('section', { class: 'actions' });
  const base = `/api/film/${info.film_id}`;
  if (info.download) {
    box.append(h('a', { class: 'button', href: `${base}/download`, download: 'yunying-dicom.zip', 'data-testid': 'download' }, T('download')));
  }
  if (info.share) box.append(shareForm(base));
  if (info.kind === 'share') box.append(doctorTools(info, base));
  box.append(h('p', { class: 'hint' }, T('expires', { d: new Date(info.expires_at_ms).toLocaleString(lang === 'zh' ? 'zh-CN' : 'en-GB') })));
  return box;
}

/** The patient shares the film with a doctor: a derived, shorter-lived link and a code. */
function shareForm(base: string): HTMLElement {
  const recipient = h('input', { 'data-testid': 'share-recipient', placeholder: T('shareTo') });
  const purpose = h('input', { 'data-testid': 'share-purpose', placeholder: T('sharePurpose') });
  const hours = h('select', { 'data-testid': 'share-hours' }, ...[24, 72, 168].map((n) => h('option', { value: String(n) }, T('hours', { n }))));
  hours.value = '72';
  const result = h('div', { class: 'share-result', 'data-testid': 'share-result' });
  const list = h('ul', { class: 'shares', 'data-testid': 'shares' });
  const refresh = async () => {
    const r = await fetch(`${base}/shares`);
    if (!r.ok) return;
    const shares = (await r.json()) as { film_id: string; recipient: string; purpose: string; expires_at_ms: number; active: boolean }[];
    list.replaceChildren(...shares.map((s) => {
      const li = h('li', {}, `${s.recipient} · ${s.purpose} · ${new Date(s.expires_at_ms).toLocaleString()} `);
      if (s.active) {
        const revoke = h('button', { type: 'button', class: 'secondary', 'data-testid': 'share-revoke' }, T('revoke'));
        revoke.onclick = async () => { await post(`${base}/shares/${s.film_id}/revoke`, {}); void refresh(); };
        li.append(revoke);
      } else {
        li.append(T('inactive'));
      }
      return li;
    }));
  };
  const form = h('form', { class: 'share', 'data-testid': 'share-form' }, h('h2', {}, T('share')), h('p', { class: 'hint' }, T('shareConsent')), recipient, purpose, hours,
    h('button', { type: 'submit', 'data-testid': 'share-create' }, T('shareCreate')), result, list);
  form.onsubmit = async (e) => {
    e.preventDefault();
    const r = await post(`${base}/share`, { recipient: recipient.value, purpose: purpose.value, hours: Number(hours.value) });
    if (!r.ok) {
      result.textContent = await errorOf(r);
      return;
    }
    const j = await r.json();
    const qr = h('div', { class: 'qr' });
    qr.innerHTML = j.qr_svg; // our own server's SVG
    result.replaceChildren(h('p', {}, T('shareLink')), h('input', { readonly: '', value: j.url, 'data-testid': 'share-url' }), h('p', {}, T('shareCode')), h('strong', { 'data-testid': 'share-code' }, j.code), qr);
    void refresh();
  };
  void refresh();
  return form;
}

/** For a doctor who received a share: the full viewer and the import. */
function doctorTools(info: Info, base: string): HTMLElement {
  const study = info.studies[0];
  const viewer = h('a', { class: 'button', 'data-testid': 'full-viewer', href: `/viewer/?server=${encodeURIComponent(info.dicomweb)}&renditions=1#/study/${study?.uid ?? ''}` }, T('fullViewer'));
  const select = h('select', { 'data-testid': 'import-destination' });
  const go = h('button', { type: 'button', 'data-testid': 'import' }, T('import'));
  const progress = h('progress', { max: '1', value: '0', 'data-testid': 'import-progress' });
  const status = h('p', { 'data-testid': 'import-status' });
  void fetch(`${base}/destinations`).then(async (r) => {
    if (!r.ok) return;
    const list = (await r.json()) as { id: string; name: string; institution: string }[];
    select.replaceChildren(...list.map((d) => h('option', { value: d.id }, `${d.name}${d.institution ? ` (${d.institution})` : ''}`)));
    go.disabled = !list.length;
  });
  go.onclick = async () => {
    go.disabled = true;
    const r = await post(`${base}/import`, { destination: select.value });
    if (!r.ok) {
      status.textContent = await errorOf(r);
      go.disabled = false;
      return;
    }
    let job = await r.json();
    while (job.state === 'running') {
      progress.max = job.total || 1;
      progress.value = job.sent + job.failed;
      status.textContent = T('importing', { sent: job.sent, total: job.total });
      await new Promise((res) => setTimeout(res, 500));
      const p = await fetch(`${base}/import/${job.job}`);
      if (!p.ok) break;
      job = await p.json();
    }
    progress.value = job.sent + job.failed;
    status.textContent = job.state === 'done' ? T('imported', { n: job.sent }) : T('importFailed', { m: job.message });
    status.dataset.state = job.state;
    go.disabled = false;
  };
  return h('section', { class: 'doctor', 'data-testid': 'doctor' }, h('h2', {}, T('doctor')), viewer, h('div', { class: 'import' }, select, go), progress, status);
}

document.getElementById('lang')!.onclick = () => {
  lang = lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem('yunying.lang', lang);
  location.reload();
};
document.documentElement.lang = lang === 'zh' ? 'zh-CN' : 'en';
void start().catch((e) => closed(String(e)));
