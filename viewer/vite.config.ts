import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

// Served by Yunying at /viewer/ (http.viewer_dir); `npm run dev` proxies
// DICOMweb to a local `yunying serve` on port 8042.
export default defineConfig({
  base: '/viewer/',
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
