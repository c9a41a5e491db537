// Orthanc 1.10.1 with its DICOMweb plugin (Debian packages), started with
// its own configuration on free loopback ports, and a same-origin proxy that
// serves the built viewer next to Orthanc's DICOMweb (Orthanc sends no CORS
// headers, so a browser page must come from the same origin).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, existsSync, readdirSync, statSync, openSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, extname, normalize } from 'node:path';
import { freePort } from './ports.mjs';

const PLUGINS = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

export async function startOrthanc() {
  const dir = mkdtempSync(join(tmpdir(), 'yy-orthanc-'));
  const http = await freePort();
  const dicom = await freePort();
  const config = {
    Name: 'YunyingViewerTest', StorageDirectory: join(dir, 'db'), IndexDirectory: join(dir, 'db'),
    HttpPort: http, DicomPort: dicom, RemoteAccessAllowed: false, AuthenticationEnabled: false,
    DefaultEncoding: 'Utf8', Plugins: [PLUGINS], DicomWeb: { Enable: true, Root: '/dicom-web/' },
    StorageCompression: false, HttpCompressionEnabled: false,
  };
  writeFileSync(join(dir, 'orthanc.json'), JSON.stringify(config));
  const log = openSync(join(dir, 'orthanc.log'), 'w');
  const child = spawn('/usr/sbin/Orthanc', [join(dir, 'orthanc.json')], { stdio: ['ignore', log, log], env: { ...process.env, TCP_NODELAY: '1' } });
  const url = `http://127.0.0.1:${http}`;
  for (let i = 0; i < 300; i++) {
    try {
      const r = await fetch(`${url}/system`);
      if (r.ok) {
        const plugins = await (await fetch(`${url}/plugins`)).json();
        if (!plugins.includes('dicom-web')) throw new Error(`Orthanc started without its DICOMweb plugin (${PLUGINS})`);
        return { url, dir, child, stop: () => child.kill('SIGTERM') };
      }
    } catch (e) {
      if (String(e.message).includes('plugin')) throw e;
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`Orthanc did not start:\n${readFileSync(join(dir, 'orthanc.log'), 'utf8').slice(-2000)}`);
}

/** Upload every .dcm file under `paths` through Orthanc's REST API. */
export async function uploadToOrthanc(url, paths) {
  let n = 0;
  for (const file of paths.flatMap(walk)) {
    const r = await fetch(`${url}/instances`, { method: 'POST', body: readFileSync(file) });
    if (!r.ok) throw new Error(`Orthanc refused ${file}: ${r.status} ${await r.text()}`);
    n++;
  }
  return n;
}

function walk(path) {
  if (statSync(path).isDirectory()) return readdirSync(path).sort().flatMap((e) => walk(join(path, e)));
  return path.endsWith('.dcm') ? [path] : [];
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json' };

/** `/viewer/*` from `dist`, `/dicom-web/*` forwarded to `target`; same origin. */
export async function startProxy(dist, target) {
  const port = await freePort();
  const upstream = new URL(target);
  const server = createServer((req, res) => {
    const path = decodeURIComponent(req.url.split('?')[0]);
    if (path.startsWith('/dicom-web/')) {
      const forward = request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host } }, (up) => {
        res.writeHead(up.statusCode, up.headers);
        up.pipe(res);
      });
      forward.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
      req.pipe(forward);
      return;
    }
    if (path === '/viewer/config.json') {
      // Plain DICOMweb: no renditions to ask for.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ dicomweb: '/dicom-web', renditions: false }));
      return;
    }
    if (path.startsWith('/viewer/')) {
      const rel = normalize(path.slice('/viewer/'.length) || 'index.html');
      const file = join(dist, rel);
      if (rel.startsWith('..') || !existsSync(file) || statSync(file).isDirectory()) { res.writeHead(404); res.end(); return; }
      res.writeHead(200, {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp',
      });
      res.end(readFileSync(file));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise((r) => server.listen(port, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(r)) };
}
