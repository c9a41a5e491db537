// Entry point: Cornerstone3D set-up and the views: the worklist (`#/`), the
// reader (`#/study/{StudyInstanceUID}`), the recognition panel of an order
// (`#/recognition/{order}?study=…`), remote reading (`#/reading…`,
// reading.ts), sign-in (`#/login`, and whenever the server wants
// credentials) and administration (`#/admin`).

import { cache, init as coreInit, setUseCPURendering } from '@cornerstonejs/core';
import { init as loaderInit } from '@cornerstonejs/dicom-image-loader';
import { init as toolsInit } from '@cornerstonejs/tools';
import { accessBanner, renderRefusal, studyAccess } from './access';
import { renderAdmin } from './admin';
import { setApiBase } from './api';
import { DicomWeb, DicomWebError, authHeaders, loadConfig } from './dicomweb';
import { clear } from './dom';
import { startFrameWorkers } from './frames/loader';
import type { PoolStats } from './frames/pool';
import { renderWho } from './header';
import { lang, setLang, t } from './i18n';
import { renderEnrolment, renderLogin } from './login';
import { renderRecognition } from './recognition';
import { isReadingRoute, renderReading } from './reading';
import type { ReadingState } from './reading-api';
import { requestReadingAction } from './reading-new';
import { keepImagePlanes } from './plane-cache';
import { MAY, Who, isAdmin, may, whoAmI } from './session';
import { Reader } from './viewer';
import { Worklist } from './worklist';
import './style.css';

declare global {
  interface Window {
    /** For tests and benchmarks: the state of the current view. */
    yunying?: { web: DicomWeb; reader?: Reader; ready: boolean; who?: Who; frames?: PoolStats; reading?: ReadingState; cornerstone?: { cache: typeof cache } };
  }
}

async function main(): Promise<void> {
  const config = await loadConfig();
  const web = new DicomWeb(config);
  await coreInit();
  // Cornerstone's CPU path renders a 512² slice in a few milliseconds; WebGL
  // emulated in software (SwiftShader, llvmpipe: no GPU, as on this project's
  // servers and many thin clients) is several times slower. `?cpu=0|1` overrides.
  const cpu = new URLSearchParams(location.search).get('cpu');
  // The image cache's bound (Cornerstone's own is 3 GB whatever the device):
  // a quarter of the device's memory as the browser reports it, between
  // 512 MB and 2 GB (1 GB when it does not say); `?cache=MB` overrides. A
  // series larger than a viewport's share keeps a window of images around
  // the one shown (panel.ts).
  const deviceGb = (navigator as { deviceMemory?: number }).deviceMemory;
  const cacheMb = Number(new URLSearchParams(location.search).get('cache')) || (deviceGb ? Math.min(2048, Math.max(512, deviceGb * 256)) : 1024);
  cache.setMaxCacheSize(Math.max(4, cacheMb) * 1024 * 1024);
  if (cpu === '1' || (cpu !== '0' && softwareWebGL())) setUseCPURendering(true);
  // Cornerstone's loader keeps its metadata and decodes colour frames in a
  // worker of its own; every frame is fetched, and grey-scale frames are
  // decoded, by the frame workers (one per core, at most four), each as it
  // arrives, nothing of it on this thread.
  loaderInit({ maxWebWorkers: 1 });
  keepImagePlanes();
  // Frames as the HTJ2K lossless copy when the server keeps one, else as stored.
  const frames = startFrameWorkers(() => ({ Accept: web.frameAccept(), ...authHeaders() }));
  toolsInit();
  const app = document.getElementById('app')!;
  const whoEl = document.getElementById('who')!;
  const banner = document.getElementById('banner')!;
  setApiBase(config.dicomweb);
  const state: NonNullable<Window['yunying']> = { web, ready: false, frames: frames.stats, cornerstone: { cache } };
  window.yunying = state;
  const worklist = new Worklist(web, (uid) => { location.hash = `#/study/${uid}`; });
  let who: Who = { kind: 'none' };

  const langButton = document.getElementById('lang')!;
  /** Ask the server who we are and show it in the header. */
  const refreshWho = async () => {
    who = await whoAmI();
    state.who = who;
    renderWho(whoEl, who, () => void signedOut());
  };
  /** Go to `hash`, or render again when already there. */
  const go = (hash: string) => {
    if (location.hash === hash || (hash === '#/' && !location.hash)) void route();
    else location.hash = hash;
  };
  const signedIn = async () => {
    await refreshWho();
    go(/^#\/login/.test(location.hash) ? '#/' : location.hash || '#/');
  };
  const signedOut = async () => {
    await refreshWho();
    go('#/');
  };
  // A DICOMweb 401 (a session ended, a token revoked): sign in again.
  web.onUnauthorized = () => {
    if (who.kind === 'signed-out') return;
    void refreshWho().then(() => { if (who.kind === 'signed-out') void route(); });
  };
  const route = async () => {
    state.reader?.destroy();
    state.reader = undefined;
    state.ready = false;
    state.reading = undefined;
    document.title = t('title');
    langButton.textContent = t('language');
    clear(banner);
    const anonymous = who.kind === 'signed-in' && who.principal.id === 'anonymous';
    const study = /^#\/study\/([0-9.]+)/.exec(location.hash)?.[1];
    const order = /^#\/recognition\/([A-Za-z0-9_]+)/.exec(location.hash)?.[1];
    if (who.kind === 'signed-out' || (/^#\/login/.test(location.hash) && (anonymous || who.kind === 'none'))) {
      renderLogin(app, () => void signedIn());
    } else if (who.kind === 'enrol') {
      renderEnrolment(app, () => void signedIn());
    } else if (isReadingRoute(location.hash) && who.kind === 'signed-in') {
      state.reading = { view: 'worklist', hash: location.hash };
      await renderReading(app, banner, web, who, location.hash, state.reading, (reader) => { state.reader = reader; });
    } else if (isAdmin(who) && (/^#\/admin/.test(location.hash) || (!study && !may(who, MAY.search)))) {
      // An administrator without a clinical role reaches no study: the
      // administration page is their start page.
      renderAdmin(app, who);
    } else if (study) {
      await openStudy(study);
    } else if (order) {
      const selected = new URLSearchParams(location.hash.split('?')[1] ?? '').get('study') ?? undefined;
      await renderRecognition(app, banner, web, order, selected, () => { location.hash = '#/'; },
        (reader) => { state.reader = reader; });
    } else {
      const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
      worklist.render(app, Object.fromEntries(params.entries()));
    }
    state.ready = true;
  };
  const openStudy = async (study: string) => {
    const back = () => { location.hash = '#/'; };
    const refuse = (message: string) => renderRefusal(app, who, study, message, back, () => void route());
    // With the access layer: whether, and how, the study is reached first,
    // for the refusal or the banner; the reader then loads what DICOMweb allows.
    const access = who.kind === 'signed-in' ? await studyAccess(study) : { reached: 'unknown' as const };
    if (access.reached === 'refused') {
      refuse(access.message);
      return;
    }
    const shown = accessBanner(access);
    if (shown) banner.append(shown);
    const reader = new Reader(web, back);
    state.reader = reader;
    // Asking another institution to read it (the study's own institution only).
    const action = requestReadingAction(who, study, access, () => reader.study?.series.map((s) => s.modality) ?? []);
    if (action) reader.actions.append(action);
    try {
      await reader.open(app, study);
    } catch (e) {
      if (e instanceof DicomWebError && e.status === 403) {
        reader.destroy();
        state.reader = undefined;
        refuse(e.message.replace(/^403 /, ''));
      } else {
        app.textContent = t('error', { m: (e as Error).message });
      }
    }
  };
  langButton.onclick = () => {
    setLang(lang() === 'zh' ? 'en' : 'zh');
    renderWho(whoEl, who, () => void signedOut());
    void route();
  };
  setLang(lang());
  window.addEventListener('hashchange', () => void route());
  await refreshWho();
  await route();
}

/** The WebGL implementation is a software rasteriser. */
function softwareWebGL(): boolean {
  const gl = document.createElement('canvas').getContext('webgl2') ?? document.createElement('canvas').getContext('webgl');
  if (!gl) return false; // Cornerstone falls back to the CPU by itself
  const info = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(info ? gl.getParameter(info.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER));
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return /swiftshader|llvmpipe|softpipe|software/i.test(renderer);
}

void main();
