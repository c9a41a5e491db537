#!/usr/bin/env bash
# Start, stop or describe the distributed backends on loopback: a throwaway
# PostgreSQL cluster and a single-node Garage S3 server (built from crates.io
# by scripts/install-deps.sh). Used by scripts/test.sh, the benchmarks and
# developers:
#
#   eval "$(storage/local-services.sh start)"   # start both, export their settings
#   storage/local-services.sh env               # print the exports again
#   storage/local-services.sh stop              # stop both, delete their data
#
# Everything lives under $YUNYING_SERVICES_DIR (default /tmp/yunying-services)
# and listens on 127.0.0.1 only. The PostgreSQL cluster runs with fsync off
# and Garage without fsync (unless YUNYING_SERVICES_DURABLE=1): they are
# for tests, never for studies anyone needs. Garage keeps its metadata in
# LMDB unless YUNYING_GARAGE_DB_ENGINE=sqlite (storage/README.md compares them).
set -euo pipefail

DIR="${YUNYING_SERVICES_DIR:-/tmp/yunying-services}"
PG_PORT="${YUNYING_PG_PORT:-54329}"
S3_PORT="${YUNYING_S3_PORT:-39000}"
S3_RPC_PORT="${YUNYING_S3_RPC_PORT:-$((S3_PORT + 1))}"
# Garage key ids are GK + 24 hex digits, secrets 64 hex digits. Test-only.
S3_ACCESS_KEY="GK79756e79696e672d74657374"
S3_SECRET_KEY="79756e79696e672d746573742d7365637265742d6e6f742d666f722d70726f64"
GARAGE="${YUNYING_GARAGE:-$HOME/.cache/yunying/tools/bin/garage}"
BUCKETS=(yunying-originals yunying-renditions)
# Tests need no durability; benchmarks set YUNYING_SERVICES_DURABLE=1 to
# measure both as deployed (fsync, synchronous commit).
if [ "${YUNYING_SERVICES_DURABLE:-0}" = 1 ]; then
  PG_DURABILITY=""
  GARAGE_FSYNC=true
else
  PG_DURABILITY="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
  GARAGE_FSYNC=false
fi

pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/$1" ] && { echo "$d/$1"; return; }
  done
  command -v "$1" || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
}

# initdb and postgres refuse to run as root: run them as the postgres user.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

print_env() {
  cat <<EOF
export YUNYING_TEST_POSTGRES='postgres://yunying@127.0.0.1:$PG_PORT/postgres'
export YUNYING_TEST_S3_ENDPOINT='http://127.0.0.1:$S3_PORT'
export YUNYING_TEST_S3_ORIGINALS_BUCKET='${BUCKETS[0]}'
export YUNYING_TEST_S3_RENDITIONS_BUCKET='${BUCKETS[1]}'
export AWS_ACCESS_KEY_ID='$S3_ACCESS_KEY'
export AWS_SECRET_ACCESS_KEY='$S3_SECRET_KEY'
export AWS_REGION='us-east-1'
EOF
}

wait_for_port() {
  local port=$1 what=$2 i
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$what did not start listening on 127.0.0.1:$port; see $DIR/*.log" >&2
  exit 1
}

start_postgres() {
  local data="$DIR/pg/data"
  if [ ! -f "$data/PG_VERSION" ]; then
    mkdir -p "$DIR/pg"
    [ "$(id -u)" = 0 ] && chown -R postgres "$DIR/pg"
    as_pg "$(pg_bin initdb)" -D "$data" -U yunying --auth=trust -E UTF8 --locale=C.UTF-8 >"$DIR/pg-initdb.log" 2>&1
  fi
  if ! as_pg "$(pg_bin pg_ctl)" -D "$data" status >/dev/null 2>&1; then
    as_pg "$(pg_bin pg_ctl)" -D "$data" -l "$DIR/pg/server.log" -w -t 30 start \
      -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $DIR/pg $PG_DURABILITY -c max_connections=300" \
      >"$DIR/pg-start.log" 2>&1 || { cat "$DIR/pg/server.log" >&2; exit 1; }
  fi
  wait_for_port "$PG_PORT" PostgreSQL
}

garage() { "$GARAGE" -c "$DIR/garage.toml" "$@"; }

start_s3() {
  if [ ! -x "$GARAGE" ]; then
    echo "garage is not built: run scripts/install-deps.sh (it caches it under ~/.cache/yunying/tools)" >&2
    exit 1
  fi
  if [ -f "$DIR/s3.pid" ] && kill -0 "$(cat "$DIR/s3.pid")" 2>/dev/null; then return; fi
  mkdir -p "$DIR/garage/meta" "$DIR/garage/data"
  cat >"$DIR/garage.toml" <<EOF
metadata_dir = "$DIR/garage/meta"
data_dir = "$DIR/garage/data"
db_engine = "${YUNYING_GARAGE_DB_ENGINE:-lmdb}"
compression_level = "none"
replication_factor = 1
metadata_fsync = $GARAGE_FSYNC
data_fsync = $GARAGE_FSYNC
rpc_bind_addr = "127.0.0.1:$S3_RPC_PORT"
rpc_public_addr = "127.0.0.1:$S3_RPC_PORT"
rpc_secret = "$(printf '%064d' 7)"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$S3_PORT"
root_domain = ".s3.localhost"
EOF
  nohup "$GARAGE" -c "$DIR/garage.toml" server >"$DIR/s3.log" 2>&1 &
  echo $! >"$DIR/s3.pid"
  wait_for_port "$S3_PORT" Garage
  local node="" i b
  for i in $(seq 1 50); do
    node=$(garage node id -q 2>/dev/null | cut -d@ -f1) && [ -n "$node" ] && break
    sleep 0.2
  done
  [ -n "$node" ] || { echo "Garage did not answer; see $DIR/s3.log" >&2; exit 1; }
  {
    garage layout assign -z local -c 10G "$node"
    garage layout apply --version 1
    garage key import --yes -n yunying "$S3_ACCESS_KEY" "$S3_SECRET_KEY"
    for b in "${BUCKETS[@]}"; do
      garage bucket create "$b"
      garage bucket allow --read --write --owner "$b" --key yunying
    done
  } >"$DIR/garage-setup.log" 2>&1 || { cat "$DIR/garage-setup.log" >&2; exit 1; }
}

case "${1:-}" in
  start)
    mkdir -p "$DIR"
    start_postgres
    start_s3
    print_env
    ;;
  env)
    print_env
    ;;
  stop)
    if [ -f "$DIR/pg/data/PG_VERSION" ]; then
      as_pg "$(pg_bin pg_ctl)" -D "$DIR/pg/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    if [ -f "$DIR/s3.pid" ]; then kill "$(cat "$DIR/s3.pid")" 2>/dev/null || true; fi
    rm -rf "$DIR"
    ;;
  *)
    echo "usage: $0 start|env|stop" >&2
    exit 2
    ;;
esac
