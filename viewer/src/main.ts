// Entry point: Cornerstone3D set-up and the two views, the worklist (`#/`)
// and the reader (`#/study/{StudyInstanceUID}`).

import { init as coreInit, setUseCPURendering } from '@cornerstonejs/core';
import { init as loaderInit } from '@cornerstonejs/dicom-image-loader';
import { init as toolsInit } from '@cornerstonejs/tools';
import { DicomWeb, authHeaders, loadConfig } from './dicomweb';
import { lang, setLang, t } from './i18n';
import { Reader } from './viewer';
import { Worklist } from './worklist';
import './style.css';

declare global {
  interface Window {
    /** For tests and benchmarks: the state of the current view. */
    yunying?: { web: DicomWeb; reader?: Reader; ready: boolean };
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
  if (cpu === '1' || (cpu !== '0' && softwareWebGL())) setUseCPURendering(true);
  loaderInit({
    // Decoding is most of loading a series: one worker per core, at most four.
    maxWebWorkers: Math.max(1, Math.min(4, navigator.hardwareConcurrency || 2)),
    // Frames as the HTJ2K lossless copy when the server keeps one, else as stored.
    beforeSend: () => ({ Accept: web.frameAccept(), ...authHeaders() }),
  });
  toolsInit();
  const app = document.getElementById('app')!;
  const state: NonNullable<Window['yunying']> = { web, ready: false };
  window.yunying = state;
  const worklist = new Worklist(web, (uid) => { location.hash = `#/study/${uid}`; });

  const langButton = document.getElementById('lang')!;
  const route = async () => {
    state.reader?.destroy();
    state.reader = undefined;
    state.ready = false;
    document.title = t('title');
    langButton.textContent = t('language');
    const study = /^#\/study\/([0-9.]+)/.exec(location.hash)?.[1];
    if (study) {
      const reader = new Reader(web, () => { location.hash = '#/'; });
      state.reader = reader;
      try {
        await reader.open(app, study);
      } catch (e) {
        app.textContent = t('error', { m: (e as Error).message });
      }
    } else {
      const params = new URLSearchParams(location.hash.split('?')[1] ?? '');
      worklist.render(app, Object.fromEntries(params.entries()));
    }
    state.ready = true;
  };
  langButton.onclick = () => { setLang(lang() === 'zh' ? 'en' : 'zh'); void route(); };
  setLang(lang());
  window.addEventListener('hashchange', () => void route());
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
