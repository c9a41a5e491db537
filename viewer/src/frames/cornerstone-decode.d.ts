// Types of Cornerstone's decoder module, imported by the frame worker under
// the alias `cornerstone-decode-worker` (vite.config.ts): the package
// exports it only from its root, which would pull the whole loader (and the
// page's globals) into the worker.
declare module 'cornerstone-decode-worker' {
  /** Decode one frame and apply the modality rescale (`options.preScale`). */
  export function decodeImageFrame(
    imageFrame: Record<string, unknown>,
    transferSyntax: string,
    pixelData: Uint8Array,
    decodeConfig: Record<string, unknown>,
    options: Record<string, unknown>,
  ): Promise<Record<string, unknown> & { pixelData: ArrayBufferView }>;
}

declare module 'cornerstone-decode-worker' {
  /** Cornerstone's step after a decoder: sign extension, min/max, the modality rescale (`options.preScale`). */
  export function postProcessDecodedPixels(
    imageFrame: Record<string, unknown>,
    options: Record<string, unknown>,
    start: number,
    decodeConfig: Record<string, unknown>,
  ): Record<string, unknown> & { pixelData: ArrayBufferView };
}

declare module '@cornerstonejs/codec-openjph/wasmjs' {
  /** The Emscripten module factory of OpenJPH's WASM build. */
  const factory: (options: { locateFile: (f: string) => string }) => Promise<{ HTJ2KDecoder: new () => unknown }>;
  export default factory;
}
