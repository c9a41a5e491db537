// HTJ2K (the lossless copies Yunying keeps, and any HTJ2K a server sends)
// decoded in a frame worker with one OpenJPH decoder for the worker's life.
// Cornerstone's own path makes a new decoder per frame and never frees it:
// its WASM heap grows by about 0.6 MB a frame (some 300 MB over a
// 1,000-slice series in each worker) and each frame decodes about a third
// slower (measured with OpenJPH's WASM build in Node on 300 of the
// benchmark's 512×512 frames: 6–7.5 ms a frame with a decoder per frame,
// 4.2 ms with one kept).

import openJphFactory from '@cornerstonejs/codec-openjph/wasmjs';

/** The HTJ2K transfer syntaxes: lossless, RPCL lossless, lossy, and the provisional one. */
export const HTJ2K = new Set(['1.2.840.10008.1.2.4.201', '1.2.840.10008.1.2.4.202', '1.2.840.10008.1.2.4.203', '3.2.840.10008.1.2.4.96']);

const wasm = new URL('@cornerstonejs/codec-openjph/wasm', import.meta.url);

interface FrameInfo {
  width: number;
  height: number;
  bitsPerSample: number;
  componentCount: number;
  isSigned: boolean;
}

interface Decoder {
  getEncodedBuffer(length: number): Uint8Array;
  decodeSubResolution(level: number): void;
  getFrameInfo(): FrameInfo;
  getDecodedBuffer(): Uint8Array;
}

let decoder: Promise<Decoder> | undefined;

/**
 * The worker's decoder, made on first use: fetching and compiling the codec
 * (300 kB of WASM) takes tens of milliseconds, so the worker starts it as
 * soon as it starts, not when the first frame is already waiting.
 */
export function htj2kDecoder(): Promise<Decoder> {
  decoder ??= openJphFactory({ locateFile: (f: string) => (f.endsWith('.wasm') ? wasm.href : f) }).then(
    (codec) => new codec.HTJ2KDecoder() as Decoder,
  );
  return decoder;
}

/**
 * Decode one HTJ2K codestream into `imageFrame`'s pixels, as Cornerstone's
 * `decodeHTJ2K` leaves them (before its post-processing): samples of more
 * than 8 bits as (Int|Uint)16Array, signed only for one component.
 */
export async function decodeHtj2k<F extends Record<string, unknown>>(imageFrame: F, codestream: Uint8Array): Promise<F & { pixelData: ArrayBufferView }> {
  const d = await htj2kDecoder();
  d.getEncodedBuffer(codestream.length).set(codestream);
  d.decodeSubResolution(0);
  const info = d.getFrameInfo();
  const decoded = d.getDecodedBuffer();
  const signed = info.isSigned && info.componentCount === 1;
  const wide = info.bitsPerSample > 8;
  const length = wide ? decoded.length / 2 : decoded.length;
  const pixels = wide ? (signed ? new Int16Array(length) : new Uint16Array(length)) : signed ? new Int8Array(length) : new Uint8Array(length);
  // Out of the WASM heap (which the next frame overwrites) into a buffer of the frame's own.
  new Uint8Array(pixels.buffer).set(decoded);
  return { ...imageFrame, pixelData: pixels, columns: info.width, rows: info.height };
}
