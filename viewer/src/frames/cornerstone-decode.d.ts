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
