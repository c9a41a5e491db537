#!/usr/bin/env bash
# Run Yunying with demo studies (embedded mode: SQLite + filesystem store).
# Installs what it needs, builds, generates and imports demo data once, then
# serves DICOM on 11112 and HTTP on 8042 until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/install-deps.sh

# The viewer first: the release binary carries it.
scripts/build-viewer.sh
cargo build --release --locked
BIN="$CARGO_TARGET_DIR/release/yunying"
DATA="${YUNYING_DATA_DIR:-$PWD/yunying-data}"

if [ ! -e "$DATA/.demo-imported" ]; then
  demo=$(mktemp -d)
  trap 'rm -rf "$demo"' EXIT
  echo "== generating demo studies"
  python3 testdata/gen_ct_series.py --out "$demo/ct" --slices 120 --studies-per-patient 2 --seed 2026 \
    --patient-name "Wang^Wei=王^伟" --charset "ISO_IR 192"
  echo "== importing"
  "$BIN" import --data-dir "$DATA" --institution DEMO "$demo/ct" testdata/dicom
  touch "$DATA/.demo-imported"
  rm -rf "$demo"   # exec below ends this shell without running EXIT traps
fi

# A demo takes C-STORE from any calling AE (the default is C-ECHO only;
# queries and retrieves always need `yunying ae add`, see README).
mkdir -p "$DATA"
# Demos only: anyone may C-STORE, and what they send is the demo hospital's.
printf '[dicom]\nunknown_callers = "demo-store"\n[archive]\ndefault_institution = "DEMO"\n' > "$DATA/demo.toml"

# A demo account (a radiologist of the demo hospital), made once; its
# generated password is kept next to the data, readable by this user only.
if [ ! -s "$DATA/demo-account.txt" ]; then
  password=$("$BIN" --data-dir "$DATA" --config "$DATA/demo.toml" user add demo --institution DEMO --roles radiologist \
    | sed -n 's/^password: //p')
  (umask 077; printf 'demo %s\n' "$password" > "$DATA/demo-account.txt")
fi
read -r demo_user demo_password < "$DATA/demo-account.txt"

echo "== Yunying: viewer http://127.0.0.1:8042/viewer/, DICOM 127.0.0.1:11112 (AE YUNYING, C-STORE from anyone), DICOMweb http://127.0.0.1:8042/dicom-web/studies"
echo "== sign in to the viewer as: $demo_user / $demo_password  (a radiologist of the demo hospital)"
exec "$BIN" serve --data-dir "$DATA" --config "$DATA/demo.toml"
