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
# A failed start (its ports taken by services left running, say) stops here:
# inside `eval "$(…)"` the failure would pass unnoticed and every PostgreSQL
# and S3 test fail for want of its settings.
if ! services_env=$(storage/local-services.sh start); then
  echo "PostgreSQL and S3 did not start (storage/local-services.sh start failed; are services of another run still up?)" >&2
  exit 1
fi
eval "$services_env"

status=0
echo "== dependencies (cargo deny, deny.toml: licences, duplicates, sources; advisories when reachable)"
deny_root="$HOME/.cache/yunying/tools/cargo-deny"
if [ ! -x "$deny_root/bin/cargo-deny" ]; then
  cargo install cargo-deny --locked --version 0.20.2 --root "$deny_root" --quiet
fi
# Errors only: a licence not allowed, an unknown source, or a second version of a
# crate that deny.toml's [bans] skip list does not name (each with its reason).
"$deny_root/bin/cargo-deny" --log-level error check licenses bans sources || status=1
# The RustSec advisory database is cloned from GitHub.
if advisories=$("$deny_root/bin/cargo-deny" check advisories 2>&1); then
  echo "advisories ok"
elif grep -q "failed to fetch advisory database" <<<"$advisories"; then
  echo "-- advisories skipped: the RustSec database (github.com) cannot be fetched from here"
else
  echo "$advisories"
  status=1
fi

echo "== formatting and lints (rustfmt.toml; clippy with warnings as errors)"
cargo fmt --all --check || status=1
cargo clippy --workspace --all-targets --locked -- -D warnings || status=1
# The fuzz targets (fuzz/, their own workspace; scripts/fuzz.sh runs them on
# nightly): kept compiling and clean here on stable.
cargo fmt --manifest-path fuzz/Cargo.toml --check || status=1
cargo clippy --manifest-path fuzz/Cargo.toml --locked -- -D warnings || status=1

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

# The Debian package, installed, run as its unit would and purged (about
# 40 s); it needs root (dpkg, a system user) and uses this run's binary.
echo "== the Debian package (scripts/package-test.sh)"
if [ "$(id -u)" = 0 ] && command -v dpkg >/dev/null; then
  YUNYING_BIN="$CARGO_TARGET_DIR/debug/yunying" scripts/package-test.sh || status=1
else
  echo "-- skipped: scripts/package-test.sh needs root and dpkg"
fi

# The compose file, its configuration files and the image definition,
# checked with what runs here (schema, hadolint, the binary reading the
# nodes' configuration, Garage, nginx -t, the topology on loopback; about
# 30 s). It keeps them true to the binary as configuration keys change.
echo "== the compose file and image definition (scripts/package-check-compose.sh)"
YUNYING_BIN="$CARGO_TARGET_DIR/debug/yunying" scripts/package-check-compose.sh || status=1

exit $status
