// The messages between the viewer and its frame workers (`worker.ts`): a
// frame to fetch and decode, and what came back. Types only.

/** What a worker needs to decode a frame: Cornerstone's image frame description and options. */
export interface DecodeSpec {
  /** `getImageFrame(imageId)`: rows, columns, bits, photometric interpretation, … */
  imageFrame: Record<string, unknown>;
  /** `preScale` (modality rescale) and `allowFloatRendering`, as Cornerstone's decoder takes them. */
  options: Record<string, unknown>;
}

/** Viewer → worker: fetch one frame (WADO-RS) and, with `decode`, decode it. */
export interface FrameRequest {
  yy: 'frame';
  id: number;
  url: string;
  headers: Record<string, string>;
  /** Absent: return the pixel data as it came (the viewer decodes it another way). */
  decode?: DecodeSpec;
}

/** Worker → viewer: the frame, its pixel buffer transferred (not copied). */
export type FrameReply =
  | {
      yy: 'frame';
      id: number;
      ok: true;
      transferSyntax: string;
      /** Decoded: Cornerstone's image frame with `pixelData` a typed array of the rescaled values. */
      imageFrame?: Record<string, unknown> & { pixelData: ArrayBufferView };
      /** Not decoded: the frame's bytes as the server sent them. */
      pixelData?: Uint8Array;
      /** Milliseconds spent in the worker: fetching (to the last byte) and decoding. */
      fetchMs: number;
      decodeMs: number;
    }
  | { yy: 'frame'; id: number; ok: false; status?: number; message: string };
