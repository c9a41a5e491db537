// Reading pixels back from a screenshot.
import { PNG } from 'pngjs';

export function decode(buffer) {
  return PNG.sync.read(buffer);
}

/** Grey value (mean of R, G, B) at integer pixel (x, y). */
export function grey(png, x, y) {
  const i = (png.width * Math.floor(y) + Math.floor(x)) * 4;
  return (png.data[i] + png.data[i + 1] + png.data[i + 2]) / 3;
}
