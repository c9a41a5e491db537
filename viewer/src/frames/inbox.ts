// The frame worker's inbox, installed before anything else in the worker:
// Cornerstone's decoder module (imported next) also listens on the worker
// (it exposes its own task over comlink at import), and must not see, or
// answer, the viewer's frame requests.

import type { FrameRequest } from './protocol';

type Handler = (request: FrameRequest) => void;

let handler: Handler | undefined;
const waiting: FrameRequest[] = [];

self.addEventListener('message', (event: MessageEvent) => {
  const data = event.data as FrameRequest | undefined;
  if (data?.yy !== 'frame') return;
  event.stopImmediatePropagation();
  if (handler) handler(data);
  else waiting.push(data);
});

/** Handle frame requests from now on, those that arrived while the worker started first. */
export function onFrameRequest(h: Handler): void {
  handler = h;
  for (const request of waiting.splice(0)) h(request);
}
