// What the tests know of the data independently of the viewer: frames and
// attributes read straight from DICOMweb, and the DICOM display rules.

/** One frame as native little-endian 16-bit values, via WADO-RS. */
export async function frameValues(base, study, series, sop, { signed = true, frame = 1 } = {}) {
  const url = `${base}/studies/${study}/series/${series}/instances/${sop}/frames/${frame}`;
  const r = await fetch(url, { headers: { Accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=1.2.840.10008.1.2.1' } });
  if (!r.ok) throw new Error(`${url}: ${r.status}`);
  const body = Buffer.from(await r.arrayBuffer());
  const boundary = /boundary="?([^";]+)"?/.exec(r.headers.get('content-type'))[1];
  const start = body.indexOf('\r\n\r\n') + 4;
  const end = body.indexOf(Buffer.from(`\r\n--${boundary}`), start);
  const bytes = body.subarray(start, end);
  const out = new Array(bytes.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = signed ? bytes.readInt16LE(i * 2) : bytes.readUInt16LE(i * 2);
  return out;
}

/** PS3.3 C.11.2.1.2.1 LINEAR window → 0..255. */
export function windowed(value, center, width) {
  const y = ((value - (center - 0.5)) / (width - 1) + 0.5) * 255;
  return Math.max(0, Math.min(255, y));
}

/**
 * Points whose 5×5 neighbourhood is flat (range ≤ `flat` in modality units),
 * so that interpolation and sub-pixel placement do not change their display
 * value; spread over the image.
 */
export function flatPoints(values, rows, cols, { flat = 24, step = 8, slope = 1, intercept = 0 } = {}) {
  const points = [];
  for (let r = 4; r < rows - 4; r += step) {
    for (let c = 4; c < cols - 4; c += step) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let dr = -2; dr <= 2; dr++) {
        for (let dc = -2; dc <= 2; dc++) {
          const v = values[(r + dr) * cols + (c + dc)] * slope + intercept;
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
      }
      if (hi - lo <= flat) points.push({ row: r, col: c, hu: values[r * cols + c] * slope + intercept });
    }
  }
  return points;
}

export async function qido(base, path, params = {}) {
  const url = `${base}${path}?${new URLSearchParams(params)}`;
  const r = await fetch(url, { headers: { Accept: 'application/dicom+json' } });
  if (r.status === 204) return [];
  if (!r.ok) throw new Error(`${url}: ${r.status} ${await r.text()}`);
  return r.json();
}

export const v = (j, tag) => j?.[tag]?.Value?.[0];

/** A series' instances from the head end down: `{ sop, z }`, highest z first (QIDO-RS). */
export async function instancesByZ(base, study, series) {
  const instances = await qido(base, `/studies/${study}/series/${series}/instances`, { includefield: '00200032' });
  return instances.map((i) => ({ sop: v(i, '00080018'), z: Number(i['00200032'].Value[2]) })).sort((a, b) => b.z - a.z);
}
