#!/usr/bin/env bash
# Build the web viewer (viewer/ → viewer/dist, served at /viewer/) when its
# sources changed since the last build. Installs its npm packages from the
# registry (package-lock.json) the first time and when the lock file changes.
set -euo pipefail
cd "$(dirname "$0")/../viewer"
command -v npm >/dev/null || { echo "npm (Node.js 20+) is needed to build the viewer" >&2; exit 1; }
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "== npm ci (viewer)"
  npm ci --no-audit --no-fund --loglevel=error
fi
stamp=dist/.built
if [ -f "$stamp" ] && [ -z "$(find index.html film.html vite.config.ts tsconfig.json package-lock.json src -newer "$stamp" -print -quit)" ]; then
  exit 0
fi
echo "== building the viewer"
# Emscripten codecs mention Node's fs/path on paths a browser never takes;
# Vite warns about each of them.
npm run --silent build 2>&1 | { grep -v "has been externalized for browser compatibility" || true; }
touch "$stamp"
