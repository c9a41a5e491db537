#!/usr/bin/env bash
# Run every test. Installs what the tests need on a fresh Debian machine
# (DCMTK, Python DICOM clients) and keeps cargo's target directory outside
# the clone so repeat runs are incremental.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# The peer-PACS tests run Orthanc 1.10.1 (Debian package) next to Yunying.
YUNYING_WITH_ORTHANC=1 scripts/install-deps.sh

echo "== cargo fmt/clippy-free build of every target"
cargo build --all-targets --locked

echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast --test-threads 2
else
  cargo test --workspace --locked --no-fail-fast -- --test-threads 2
fi
