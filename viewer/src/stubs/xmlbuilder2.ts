// vtk.js imports xmlbuilder2 for its XML file reader and writer, which the
// viewer never uses; the real package needs Node's `events` and would break
// the browser bundle at load time.
export function create(): never {
  throw new Error('XML documents are not supported in the viewer');
}
export default { create };
