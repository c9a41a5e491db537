// Remote reading (远程阅片, issue 27) in the viewer: the routes under
// `#/reading` and the header's link to them.
//
//   #/reading?side=reading|requesting&status=…   the worklist (reading-worklist.ts)
//   #/reading/statistics?by=…&side=…              statistics (reading-stats.ts)
//   #/reading/{request_id}                        reading a request (reading-request.ts)

import { DicomWeb } from './dicomweb';
import { h } from './dom';
import { t } from './i18n';
import { ReadingState, mayUseReading } from './reading-api';
import { renderReadingRequest } from './reading-request';
import { renderReadingStatistics } from './reading-stats';
import { renderReadingWorklist } from './reading-worklist';
import { Who } from './session';
import type { Reader } from './viewer';

export function isReadingRoute(hash: string): boolean {
  return /^#\/reading(\/|\?|$)/.test(hash);
}

/** The header's link to the reading worklist, for those who may use one. */
export function readingLink(who: Who): HTMLElement | null {
  return mayUseReading(who) ? h('a', { href: '#/reading', 'data-testid': 'reading-link' }, t('readingWorklist')) : null;
}

/** Render the reading view of `hash` into `app`; `onReader` gets a request's reader. */
export async function renderReading(
  app: HTMLElement, banner: HTMLElement, web: DicomWeb, who: Who, hash: string, state: ReadingState,
  onReader: (r: Reader) => void,
): Promise<void> {
  const [path, search = ''] = hash.replace(/^#/, '').split('?');
  const params = Object.fromEntries(new URLSearchParams(search).entries());
  const id = /^\/reading\/([A-Za-z0-9_-]+)$/.exec(path)?.[1];
  if (id === 'statistics') await renderReadingStatistics(app, params, state);
  else if (id) await renderReadingRequest(app, banner, web, who, id, state, onReader);
  else await renderReadingWorklist(app, who, params, state);
}
