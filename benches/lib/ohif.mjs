// OHIF Viewer (the prebuilt `@ohif/app` from npm) served next to a DICOMweb
// server for benches/viewer.mjs --mpr: the package is fetched once with
// `npm pack` into ~/.cache/yunying/ohif and unpacked there; a small Node
// server gives its dist with an SPA fallback, a generated app-config.js whose
// one data source is `/dicom-web`, and forwards `/dicom-web/*` to the
// DICOMweb server (same origin: no CORS), with COOP/COEP so that OHIF has
// SharedArrayBuffer as its documentation asks of a deployment.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, request, Agent } from 'node:http';
import { homedir } from 'node:os';
import { extname, join, normalize } from 'node:path';

export const OHIF_VERSION = process.env.OHIF_VERSION ?? '3.13.2';

/** The unpacked dist of @ohif/app OHIF_VERSION, fetched with `npm pack` if missing. */
export function ohifDist(version = OHIF_VERSION) {
  const cache = join(homedir(), '.cache/yunying/ohif');
  const dist = join(cache, 'package/dist');
  const versionOf = () => {
    try { return JSON.parse(readFileSync(join(cache, 'package/package.json'), 'utf8')).version; } catch { return undefined; }
  };
  if (existsSync(join(dist, 'index.html')) && versionOf() === version) return dist;
  mkdirSync(cache, { recursive: true });
  console.log(`== fetching @ohif/app@${version} (npm pack) into ${cache}`);
  const tgz = execFileSync('npm', ['pack', `@ohif/app@${version}`, '--silent'], { cwd: cache, encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('rm', ['-rf', join(cache, 'package')]);
  execFileSync('tar', ['-xzf', join(cache, tgz), '-C', cache]);
  if (!existsSync(join(dist, 'index.html'))) throw new Error(`@ohif/app@${version} has no dist/index.html`);
  return dist;
}

/** OHIF's configuration: one DICOMweb data source at `/dicom-web` of the same origin. */
export function appConfig() {
  const config = {
    routerBasename: '/',
    showStudyList: true,
    extensions: [],
    modes: [],
    customizationService: {},
    maxNumberOfWebWorkers: 3,
    showWarningMessageForCrossOrigin: false,
    showCPUFallbackMessage: true,
    showLoadingIndicator: true,
    strictZSpacingForVolumeViewport: true,
    investigationalUseDialog: { option: 'never' },
    maxNumRequests: { interaction: 100, thumbnail: 5, prefetch: 25 },
    defaultDataSourceName: 'yunying',
    dataSources: [{
      namespace: '@ohif/extension-default.dataSourcesModule.dicomweb',
      sourceName: 'yunying',
      configuration: {
        friendlyName: 'Yunying',
        name: 'yunying',
        wadoUriRoot: '/dicom-web',
        qidoRoot: '/dicom-web',
        wadoRoot: '/dicom-web',
        qidoSupportsIncludeField: false,
        supportsReject: false,
        imageRendering: 'wadors',
        thumbnailRendering: 'wadors',
        enableStudyLazyLoad: true,
        supportsFuzzyMatching: false,
        supportsWildcard: true,
        staticWado: false,
        singlepart: 'bulkdata,video',
        bulkDataURI: { enabled: true, relativeResolution: 'studies' },
        omitQuotationForMultipartRequest: true,
      },
    }],
  };
  return `window.config = ${JSON.stringify(config, null, 2)};\n`;
}

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm',
  '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.woff': 'font/woff',
};
const ISOLATION = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cross-origin-resource-policy': 'same-origin' };

/** OHIF's `dist` at `/`, `/dicom-web/*` forwarded to `target` (a base URL such as http://127.0.0.1:8042). */
export async function startOhif(dist, target, port) {
  const upstream = new URL(target);
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const config = appConfig();
  const files = new Map();
  const read = (file) => {
    let body = files.get(file);
    if (!body) { body = readFileSync(file); files.set(file, body); }
    return body;
  };
  const server = createServer((req, res) => {
    const path = decodeURIComponent(req.url.split('?')[0]);
    if (path.startsWith('/dicom-web/') || path === '/dicom-web') {
      const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, agent, headers: { ...req.headers, host: upstream.host } }, (up) => {
        res.writeHead(up.statusCode, { ...up.headers, 'cross-origin-resource-policy': 'same-origin' });
        up.pipe(res);
      });
      forward.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      req.pipe(forward);
      return;
    }
    if (path === '/app-config.js') {
      res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store', ...ISOLATION });
      res.end(config);
      return;
    }
    const rel = normalize(path).replace(/^\/+/, '');
    let file = join(dist, rel);
    if (rel.startsWith('..') || !existsSync(file) || statSync(file).isDirectory()) file = join(dist, 'index.html'); // SPA fallback
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', ...ISOLATION });
    res.end(read(file));
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => { agent.destroy(); server.close(r); }) };
}
