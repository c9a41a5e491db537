// A frame worker: fetches one WADO-RS frame, takes the pixel data out of its
// multipart body and decodes it with Cornerstone's decoders (the WASM
// codecs: JPEG 2000, JPEG-LS, JPEG; native and RLE in JavaScript; HTJ2K
// with one decoder kept for the worker's life, `htj2k.ts`),
// applies the modality rescale, and hands the pixels to the viewer by
// transferring their buffer. Nothing of this runs on the page's thread.

import { onFrameRequest } from './inbox';
// Cornerstone's decoder module (its worker entry; see vite.config.ts).
import { decodeImageFrame, postProcessDecodedPixels } from 'cornerstone-decode-worker';
import { HTJ2K, decodeHtj2k, htj2kDecoder } from './htj2k';
import { framePart, transferSyntaxOf } from './multipart';
import type { FrameReply, FrameRequest } from './protocol';

// Ready before the first frame arrives; a codec that fails to load fails the frames that need it.
htj2kDecoder().catch(() => undefined);

onFrameRequest((request) => {
  void handle(request).then(
    ([reply, transfer]) => self.postMessage(reply, { transfer }),
    (e: unknown) => self.postMessage({ yy: 'frame', id: request.id, ok: false, message: String((e as Error)?.message ?? e) } satisfies FrameReply),
  );
});

async function handle(request: FrameRequest): Promise<[FrameReply, Transferable[]]> {
  const started = performance.now();
  const r = await fetch(request.url, { headers: request.headers, credentials: 'same-origin' });
  if (!r.ok) {
    const reply: FrameReply = { yy: 'frame', id: request.id, ok: false, status: r.status, message: `${r.status} ${r.statusText}` };
    return [reply, []];
  }
  const bytes = new Uint8Array(await r.arrayBuffer());
  const fetched = performance.now();
  const part = framePart(r.headers.get('Content-Type') ?? 'application/octet-stream', bytes);
  const transferSyntax = transferSyntaxOf(part.contentType);
  if (!request.decode) {
    // A copy of just the part, so only its bytes cross to the viewer.
    const pixelData = part.body.slice();
    const reply: FrameReply = { yy: 'frame', id: request.id, ok: true, transferSyntax, pixelData, fetchMs: fetched - started, decodeMs: 0 };
    return [reply, [pixelData.buffer]];
  }
  const frame = { ...request.decode.imageFrame };
  const decoded = HTJ2K.has(transferSyntax)
    ? postProcessDecodedPixels(await decodeHtj2k(frame, part.body), request.decode.options, Date.now(), {})
    : await decodeImageFrame(frame, transferSyntax, part.body, {}, request.decode.options);
  const pixels = decoded.pixelData as ArrayBufferView;
  // The decoders leave the result in a buffer of its own, except for native
  // data, which may still be a view into the response: then send a copy of the view.
  const own = pixels.byteOffset === 0 && pixels.byteLength === pixels.buffer.byteLength;
  const pixelData = own ? pixels : copyOf(pixels);
  const imageFrame = { ...decoded, pixelData };
  const reply: FrameReply = {
    yy: 'frame', id: request.id, ok: true, transferSyntax, imageFrame, fetchMs: fetched - started, decodeMs: performance.now() - fetched,
  };
  return [reply, [pixelData.buffer]];
}

function copyOf(view: ArrayBufferView): ArrayBufferView {
  const Ctor = view.constructor as new (length: number) => ArrayBufferView & { set(a: ArrayBufferView): void };
  const bytesPer = (view as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT;
  const copy = new Ctor(view.byteLength / bytesPer);
  copy.set(view);
  return copy;
}
