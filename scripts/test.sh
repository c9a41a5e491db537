#!/usr/bin/env bash
# Run every test. Installs what the tests need on a fresh Debian machine
# (DCMTK, Orthanc, PostgreSQL, Python DICOM clients, Chromium, the viewer's npm
# packages, the Garage S3 server) and keeps
# cargo's target directory outside the clone so repeat runs are incremental.
#
# The suite runs twice where the backend matters: once on the embedded
# default (SQLite and the filesystem) and once more, for the end-to-end tests,
# on PostgreSQL and an S3 server started here on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

# The peer-PACS tests run Orthanc 1.10.1 (Debian package) next to Yunying.
YUNYING_WITH_ORTHANC=1 YUNYING_WITH_SERVICES=1 YUNYING_WITH_BROWSER=1 scripts/install-deps.sh
scripts/build-viewer.sh

echo "== build every target"
cargo build --all-targets --locked

echo "== PostgreSQL and S3 (Garage) on loopback"
export YUNYING_SERVICES_DIR="${YUNYING_SERVICES_DIR:-/tmp/yunying-services-$$}"
trap 'storage/local-services.sh stop' EXIT
eval "$(storage/local-services.sh start)"

status=0
echo "== formatting and lints (rustfmt.toml; clippy with warnings as errors)"
cargo fmt --all --check || status=1
cargo clippy --workspace --all-targets --locked -- -D warnings || status=1

run() {
  if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --no-fail-fast --test-threads 2 "$@" || status=1
  else
    cargo test --locked --no-fail-fast "$@" -- --test-threads 2 || status=1
  fi
}

echo "== tests (embedded backend; index and store suites on both backends)"
run --workspace

echo "== end-to-end tests again on PostgreSQL + S3"
YUNYING_TEST_BACKEND=postgres-s3 run -p yunying --test it

exit $status
