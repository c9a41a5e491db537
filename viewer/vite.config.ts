import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { defineConfig, type Plugin } from 'vite';

/**
 * Brotli and gzip twins (`x.js.br`, `x.js.gz`) of every compressible file of
 * the build, made once here so that the server sends them as they are (the
 * binary embeds them; `ServeDir` serves them from a directory). A twin is
 * kept only when it saves at least a tenth.
 */
function precompress(): Plugin {
  const compressible = /\.(html|js|mjs|css|json|wasm|svg)$/;
  let outDir = 'dist';
  return {
    name: 'yunying-precompress',
    apply: 'build',
    configResolved(config) {
      outDir = config.build.outDir;
    },
    closeBundle() {
      const walk = (dir: string): string[] =>
        readdirSync(dir).flatMap((name) => {
          const path = join(dir, name);
          return statSync(path).isDirectory() ? walk(path) : [path];
        });
      for (const path of walk(outDir).filter((p) => compressible.test(p))) {
        const body = readFileSync(path);
        if (body.length < 1024) continue;
        const br = brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: body.length } });
        if (br.length <= body.length * 0.9) writeFileSync(`${path}.br`, br);
        const gz = gzipSync(body, { level: 9 });
        if (gz.length <= body.length * 0.9) writeFileSync(`${path}.gz`, gz);
      }
    },
  };
}

// Served by Yunying at /viewer/ (http.viewer_dir); `npm run dev` proxies
// DICOMweb to a local `yunying serve` on port 8042.
export default defineConfig({
  base: '/viewer/',
  plugins: [precompress()],
  resolve: {
    alias: {
      xmlbuilder2: fileURLToPath(new URL('./src/stubs/xmlbuilder2.ts', import.meta.url)),
      // Cornerstone's decoders for the frame workers (src/frames/worker.ts):
      // the package exports them only from its root, which imports the page side too.
      'cornerstone-decode-worker': fileURLToPath(
        new URL('./node_modules/@cornerstonejs/dicom-image-loader/dist/esm/decodeImageFrameWorker.js', import.meta.url),
      ),
    },
  },
  build: {
    target: 'es2022',
    outDir: 'dist',
    chunkSizeWarningLimit: 4096,
    // The radiologist viewer, and the cloud film page (served at /f), which
    // shares nothing with it so that a phone loads a few kilobytes.
    rollupOptions: {
      input: {
        viewer: fileURLToPath(new URL('./index.html', import.meta.url)),
        film: fileURLToPath(new URL('./film.html', import.meta.url)),
      },
    },
  },
  optimizeDeps: {
    exclude: ['@cornerstonejs/dicom-image-loader'],
    include: ['dicom-parser'],
  },
  worker: { format: 'es' },
  server: {
    proxy: { '/dicom-web': 'http://127.0.0.1:8042', '/api': 'http://127.0.0.1:8042' },
  },
});
