#!/usr/bin/env bash
# Run Yunying with demo studies (embedded mode: SQLite + filesystem store).
# Installs what it needs, builds, generates and imports demo data once, then
# serves DICOM on 11112 and HTTP on 8042 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/install-deps.sh

cargo build --release --locked
BIN="$CARGO_TARGET_DIR/release/yunying"
DATA="${YUNYING_DATA_DIR:-$PWD/yunying-data}"

if [ ! -e "$DATA/.demo-imported" ]; then
  demo=$(mktemp -d)
  trap 'rm -rf "$demo"' EXIT
  echo "== generating demo studies"
  python3 testdata/gen_ct_series.py --out "$demo/ct" --slices 120 --seed 2026 \
    --patient-name "Wang^Wei=王^伟" --charset "ISO_IR 192"
  echo "== importing"
  "$BIN" import --data-dir "$DATA" --institution DEMO "$demo/ct" testdata/dicom
  touch "$DATA/.demo-imported"
fi

echo "== Yunying: DICOM 127.0.0.1:11112 (AE YUNYING), DICOMweb http://127.0.0.1:8042/dicom-web/studies"
exec "$BIN" serve --data-dir "$DATA"
