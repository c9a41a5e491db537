#!/usr/bin/env bash
# Two Yunying nodes on two network hosts, each partitioned in turn from
# PostgreSQL and S3, then healed (issue 24): what the scenarios are and what
# they check is in tests/partition/partition.py. About 5 minutes.
#
#   scripts/partition-test.sh [--keep]
#
# Needs root (network namespaces, iptables), PostgreSQL's server binaries
# and the S3 server: `scripts/test.sh` installs and builds them. Not part of
# scripts/test.sh: it changes the host's network configuration (namespaces
# and veth links named yy-part-*/yyp*, removed afterwards) and takes time
# CI does not have. It uses the S3 server already running when
# YUNYING_TEST_S3_ENDPOINT is set, else starts one (on ports of its own).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
[ "$(id -u)" = 0 ] || { echo "run as root: network namespaces and iptables" >&2; exit 2; }
cargo build --quiet --bin yunying
if [ -z "${YUNYING_TEST_S3_ENDPOINT:-}" ]; then
  services=$(mktemp -d /tmp/yunying-partition-services.XXXXXX)
  chmod 755 "$services" # PostgreSQL runs as its own user
  trap 'YUNYING_SERVICES_DIR=$services storage/local-services.sh stop >/dev/null 2>&1 || true; rm -rf "$services"' EXIT
  env_lines=$(YUNYING_SERVICES_DIR=$services YUNYING_PG_PORT=54339 YUNYING_S3_PORT=39010 storage/local-services.sh start)
  eval "$env_lines"
fi
python3 tests/partition/partition.py --binary "$CARGO_TARGET_DIR/debug/yunying" "$@"
