// The one part of a WADO-RS frame response (`multipart/related`, PS3.18
// 8.7.1): its content type and body, found without scanning the body byte
// by byte (the closing delimiter is looked for from the end).

/** A frame as it came: the part's Content-Type and its bytes (a view, not a copy). */
export interface FramePart {
  contentType: string;
  body: Uint8Array;
}

const CRLF2 = [13, 10, 13, 10];
/** Part headers longer than this are not a frame response. */
const MAX_HEADER = 16 * 1024;

/** The single part of `bytes` sent with the response's `contentType`; a non-multipart body is the part itself. */
export function framePart(contentType: string, bytes: Uint8Array): FramePart {
  if (!/^multipart\//i.test(contentType.trim())) return { contentType, body: bytes };
  const boundary = boundaryOf(contentType) ?? firstLineBoundary(bytes);
  if (!boundary) throw new Error('multipart response without a boundary');
  const headerEnd = indexOf(bytes, CRLF2, 0, Math.min(bytes.length, MAX_HEADER));
  if (headerEnd < 0) throw new Error('multipart response without part headers');
  const headers = ascii(bytes, 0, headerEnd).split('\r\n');
  const partType = headers.find((h) => /^content-type:/i.test(h))?.slice(13).trim() ?? 'application/octet-stream';
  const start = headerEnd + 4;
  const delimiter = Array.from(`\r\n--${boundary}`, (c) => c.charCodeAt(0));
  const end = lastIndexOf(bytes, delimiter, start);
  if (end < 0) throw new Error('multipart response without its closing delimiter');
  return { contentType: partType, body: bytes.subarray(start, end) };
}

/** The transfer syntax a part's Content-Type names (as Cornerstone's WADO-RS loader reads it). */
export function transferSyntaxOf(contentType: string): string {
  const params = new Map<string, string>();
  const [type, ...rest] = contentType.split(';').map((s) => s.trim());
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), p.slice(eq + 1).trim().replace(/"/g, ''));
  }
  const named = params.get('transfer-syntax');
  if (named) return named;
  return BY_MEDIA_TYPE[type.toLowerCase()] ?? BY_MEDIA_TYPE[params.get('type') ?? ''] ?? '1.2.840.10008.1.2';
}

const BY_MEDIA_TYPE: Record<string, string> = {
  'image/jpeg': '1.2.840.10008.1.2.4.50',
  'image/x-dicom-rle': '1.2.840.10008.1.2.5',
  'image/x-jls': '1.2.840.10008.1.2.4.80',
  'image/jls': '1.2.840.10008.1.2.4.80',
  'image/jll': '1.2.840.10008.1.2.4.70',
  'image/jp2': '1.2.840.10008.1.2.4.90',
  'image/jpx': '1.2.840.10008.1.2.4.92',
  'image/jxl': '1.2.840.10008.1.2.4.110',
  'image/jphc': '3.2.840.10008.1.2.4.96',
  'application/x-deflate': '1.2.840.10008.1.2.8.1',
};

function boundaryOf(contentType: string): string | undefined {
  const m = /;\s*boundary=("([^"]+)"|[^;\s]+)/i.exec(contentType);
  return m ? (m[2] ?? m[1]) : undefined;
}

/** Servers that leave the boundary out of the header still start the body with it. */
function firstLineBoundary(bytes: Uint8Array): string | undefined {
  const eol = indexOf(bytes, [13, 10], 0, Math.min(bytes.length, 1024));
  const line = eol > 0 ? ascii(bytes, 0, eol) : '';
  return line.startsWith('--') ? line.slice(2).trim() : undefined;
}

function indexOf(bytes: Uint8Array, needle: number[], from: number, to: number): number {
  outer: for (let i = from; i + needle.length <= to; i++) {
    for (let k = 0; k < needle.length; k++) if (bytes[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

/** The last occurrence of `needle` at or after `from`: the closing delimiter sits near the end. */
function lastIndexOf(bytes: Uint8Array, needle: number[], from: number): number {
  outer: for (let i = bytes.length - needle.length; i >= from; i--) {
    for (let k = 0; k < needle.length; k++) if (bytes[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

function ascii(bytes: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(bytes[i]);
  return s;
}
