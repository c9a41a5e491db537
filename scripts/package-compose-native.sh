#!/usr/bin/env bash
# The topology of packaging/compose.yaml run without containers, on
# loopback, from the compose directory's own configuration files:
#   scripts/package-compose-native.sh [--bin PATH]
# PostgreSQL (a throwaway cluster), Garage from compose/garage.toml with the
# compose file's flags, the keys of compose/init-keys.sh, two Yunying nodes
# on compose/yunying.toml and nginx on compose/nginx.conf (TLS, a
# self-signed certificate). Only addresses are rewritten: container names
# become 127.0.0.1, fixed ports become free ones, nginx's fixed address
# becomes 127.0.0.1 in trusted_proxies. Then: an AE registered through
# node 1 stores a study into node 1 with DCMTK, a key made through node 2
# finds it over HTTPS through nginx (QIDO-RS) and renders it (the object
# from S3), node 2 answers the same directly, /healthz and /viewer/ pass
# through nginx and /metrics does not, plain HTTP is redirected, and both nodes stop cleanly on SIGTERM.
# Needs root (PostgreSQL runs as the user postgres), PostgreSQL, nginx,
# DCMTK and Garage (YUNYING_WITH_SERVICES=1 scripts/install-deps.sh).
# YY_KEEP=DIR keeps a copy of the work directory (logs, data) on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bin="${YUNYING_BIN:-$CARGO_TARGET_DIR/release/yunying}"
[ "${1:-}" = --bin ] && bin="$2"
bin=$(readlink -f "$bin")
garage="${YUNYING_GARAGE:-$HOME/.cache/yunying/tools/bin/garage}"
step() { echo "== package-compose-native: $*"; }
fail() { echo "package-compose-native: FAILED: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "no yunying binary at $bin (--bin PATH or YUNYING_BIN)"
[ "$(id -u)" = 0 ] || fail "run as root (PostgreSQL runs as postgres)"
[ -x "$garage" ] || fail "Garage is not built (YUNYING_WITH_SERVICES=1 scripts/install-deps.sh)"
pg_bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
[ -x "$pg_bin/initdb" ] || pg_bin=""
[ -n "$pg_bin" ] || fail "PostgreSQL is not installed (apt-get install postgresql)"
for tool in nginx openssl curl /usr/bin/storescu /usr/bin/dcmdump python3; do
  command -v "$tool" >/dev/null || fail "$tool is needed"
done

# World-traversable (PostgreSQL and nginx's workers run as other users);
# the secrets in it are throwaway.
work=$(mktemp -d /tmp/yy-compose-native.XXXXXX)
chmod 0755 "$work"
pids=()
pg_started=0
cleanup() {
  local rc=$?
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  done
  [ "$pg_started" = 1 ] && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -m immediate stop >/dev/null 2>&1
  if [ $rc != 0 ]; then
    for log in "$work"/*.log; do [ -s "$log" ] && { echo "-- $log (last 15 lines)" >&2; tail -n 15 "$log" >&2; }; done
  fi
  [ -n "${YY_KEEP:-}" ] && cp -r "$work" "$YY_KEEP"; rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 1 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done
  fail "$2 did not listen on $1"
}
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
s3_key="GK$(hex 12)"; s3_secret=$(hex 32)

step "PostgreSQL"
pg_port=$(free_port)
install -d -o postgres -g postgres -m 0700 "$work/pg"
runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg/data" -U yunying --auth=trust -E UTF8 --locale=C.UTF-8 > "$work/pg-initdb.log" 2>&1
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$work/pg/data" -l "$work/pg/server.log" -w -t 30 start \
  -o "-p $pg_port -c listen_addresses=127.0.0.1 -k $work/pg" > "$work/pg-start.log" 2>&1
pg_started=1
runuser -u postgres -- "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U yunying yunying

step "Garage from compose/garage.toml"
s3_port=$(free_port); rpc_port=$(free_port)
sed -e "s|/var/lib/garage|$work/garage|" -e "s|\[::\]:3900|127.0.0.1:$s3_port|" -e "s|\[::\]:3901|127.0.0.1:$rpc_port|" \
  -e "s|127.0.0.1:3901|127.0.0.1:$rpc_port|" -e 's/_fsync = true/_fsync = false/' packaging/compose/garage.toml > "$work/garage.toml"
command=$(python3 -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["services"]["s3"]["command"][3:]))' \
  packaging/compose.yaml)
# shellcheck disable=SC2086
GARAGE_RPC_SECRET=$(hex 32) GARAGE_DEFAULT_ACCESS_KEY="$s3_key" GARAGE_DEFAULT_SECRET_KEY="$s3_secret" GARAGE_DEFAULT_BUCKET=yunying \
  "$garage" -c "$work/garage.toml" $command > "$work/garage.log" 2>&1 &
pids+=($!)
wait_port "$s3_port" Garage

step "the shared keys (compose/init-keys.sh)"
mkdir -p "$work/bin" "$work/keys"
ln -s "$bin" "$work/bin/yunying"
PATH="$work/bin:$PATH" YUNYING_KEYS_DIR="$work/keys" sh packaging/compose/init-keys.sh > /dev/null

step "two nodes on compose/yunying.toml"
sed -e "s|http://s3:3900|http://127.0.0.1:$s3_port|" -e "s|/var/lib/yunying-keys|$work/keys|" \
  -e 's|^trusted_proxies = .*|trusted_proxies = ["127.0.0.1"]|' -e 's|^bind = "0.0.0.0"|bind = "127.0.0.1"|' \
  -e 's|^dicom_bind = "0.0.0.0"|dicom_bind = "127.0.0.1"|' packaging/compose/yunying.toml > "$work/yunying.toml"
export YUNYING_CONFIG="$work/yunying.toml" YUNYING_INDEX_URL="postgres://yunying:unused@127.0.0.1:$pg_port/yunying"
YUNYING_FILM_KEY=$(hex 16)
export AWS_ACCESS_KEY_ID="$s3_key" AWS_SECRET_ACCESS_KEY="$s3_secret" YUNYING_FILM_KEY
declare -A dicom http node_pid
for n in 1 2; do
  mkdir -p "$work/node$n"
  # compose.yaml names each node by its host name ([renditions] node).
  { cat "$work/yunying.toml"; printf '\n[renditions]\nnode = "yunying-%s"\n' "$n"; } > "$work/node$n.toml"
  YUNYING_CONFIG="$work/node$n.toml" YUNYING_DICOM_PORT=0 YUNYING_HTTP_PORT=0 "$bin" --data-dir "$work/node$n" serve \
    > "$work/node$n.log" 2>&1 &
  pids+=($!); node_pid[$n]=$!
done
for n in 1 2; do
  for _ in $(seq 1 300); do [ -s "$work/node$n/serving.json" ] && break; sleep 0.1; done
  [ -s "$work/node$n/serving.json" ] || fail "node $n did not start"
  read -r dicom[$n] http[$n] < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["dicom_port"], s["http_port"])' \
    "$work/node$n/serving.json")
done

step "nginx on compose/nginx.conf"
https_port=$(free_port); plain_port=$(free_port)
mkdir -p "$work/nginx/tls" "$work/nginx/tmp"
chmod 1777 "$work/nginx/tmp"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$work/nginx/tls/server.key" -out "$work/nginx/tls/server.crt" 2>/dev/null
sed -e "s|/etc/nginx/tls|$work/nginx/tls|" -e "s|yunying-1:8042|127.0.0.1:${http[1]}|" -e "s|yunying-2:8042|127.0.0.1:${http[2]}|" \
  -e "s|listen 443 ssl;|listen 127.0.0.1:$https_port ssl;|" -e "s|listen 80;|listen 127.0.0.1:$plain_port;|" -e '/listen \[::\]/d' \
  -e "s|https://\$host:8443|https://\$host:$https_port|" packaging/compose/nginx.conf > "$work/nginx/default.conf"
if ! nginx -V 2>&1 | grep 'nginx/1\.\(2[5-9]\|[3-9][0-9]\)' >/dev/null; then
  sed -i 's/^\s*http2 on;$//' "$work/nginx/default.conf"   # Debian 12's nginx 1.22 predates it
fi
cat > "$work/nginx/nginx.conf" <<EOF
pid $work/nginx/nginx.pid;
error_log stderr;
daemon off;
events {}
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp/body;
  proxy_temp_path $work/nginx/tmp/proxy;
  fastcgi_temp_path $work/nginx/tmp/fastcgi;
  uwsgi_temp_path $work/nginx/tmp/uwsgi;
  scgi_temp_path $work/nginx/tmp/scgi;
  include $work/nginx/default.conf;
}
EOF
nginx -c "$work/nginx/nginx.conf" > "$work/nginx.log" 2>&1 &
pids+=($!)
wait_port "$https_port" nginx

step "DCMTK stores a study into node 1"
admin=("$bin" --data-dir "$work/node1")
"${admin[@]}" ae add COMPOSE 127.0.0.1 104 --institution COMPOSE --new-institution --allow store > /dev/null
(umask 077; "$bin" --data-dir "$work/node2" key add compose-check --platform --scopes dicomweb:read 2>/dev/null \
  | sed -n 's/^\(yk_[0-9a-f_]*\)$/Authorization: Bearer \1/p' > "$work/auth-header")
[ -s "$work/auth-header" ] || fail "no key from node 2"
study_file=testdata/dicom/ct_implicit_le.dcm
study_uid=$(dcmdump +P 0020,000d "$study_file" | sed -n 's/.*\[\(.*\)\].*/\1/p')
/usr/bin/storescu -aet COMPOSE -aec YUNYING 127.0.0.1 "${dicom[1]}" "$study_file" > "$work/storescu.log" 2>&1 || fail "storescu to node 1"

# The instance is in S3, not in a node's data directory.
[ -z "$(find "$work/node1" "$work/node2" -name '*.dcm' -print -quit)" ] || fail "an instance was stored on a node's disk"
[ -n "$(find "$work/garage/data" -type f -print -quit)" ] || fail "nothing was stored in Garage"

step "found and rendered through nginx (HTTPS), and by node 2 directly"
tls=(--cacert "$work/nginx/tls/server.crt" --resolve "localhost:$https_port:127.0.0.1")
front="https://localhost:$https_port"
[ "$(curl -sS "${tls[@]}" -o /dev/null -w '%{http_code}' "$front/healthz")" = 200 ] || fail "/healthz through nginx"
[ "$(curl -sS "${tls[@]}" -o /dev/null -w '%{http_code}' "$front/metrics")" = 403 ] || fail "/metrics is reachable through nginx"
[ "$(curl -sS "${tls[@]}" -o /dev/null -w '%{http_code}' "$front/viewer/")" = 200 ] || fail "/viewer/ through nginx"
for base in "$front" "http://127.0.0.1:${http[2]}"; do
  if [ "$base" != "$front" ]; then
    # nginx spread the requests above (least_conn, ties in turn).
    for n in 1 2; do
      grep -q 'dicom-web/studies' "$work/node$n.log" || fail "node $n answered no DICOMweb request through nginx"
    done
  fi
  for _ in 1 2; do
    rows=$(curl -sS -f "${tls[@]}" -H @"$work/auth-header" -H 'Accept: application/dicom+json' \
      "$base/dicom-web/studies/$study_uid/instances") || fail "QIDO-RS at $base"
    read -r series_uid sop_uid retrieve < <(python3 -c '
import json, sys
rows = json.loads(sys.stdin.read() or "[]")
if len(rows) != 1: sys.exit("expected 1 instance, got %d" % len(rows))
print(rows[0]["0020000E"]["Value"][0], rows[0]["00080018"]["Value"][0], rows[0].get("00081190", {}).get("Value", ["-"])[0])' \
      <<< "$rows") || fail "QIDO-RS at $base: not the instance sent"
    # Through nginx, links name the address the client used, in https.
    if [ "$base" = "$front" ] && [[ "$retrieve" != "$front/dicom-web/studies/$study_uid"* ]]; then
      fail "QIDO-RS Retrieve URL through nginx is $retrieve"
    fi
    curl -sS -f "${tls[@]}" -H @"$work/auth-header" -H 'Accept: image/jpeg' -o "$work/rendered" \
      "$base/dicom-web/studies/$study_uid/series/$series_uid/instances/$sop_uid/rendered" || fail "rendered at $base"
    [ "$(head -c 2 "$work/rendered" | od -An -tx1 | tr -d ' ')" = ffd8 ] || fail "rendered at $base: not a JPEG"
  done
done
redirect=$(curl -sS -o /dev/null -w '%{http_code} %{redirect_url}' "http://127.0.0.1:$plain_port/viewer/")
[[ "$redirect" == "308 https://127.0.0.1:$https_port/viewer/" ]] || fail "plain HTTP: $redirect"

step "SIGTERM: both nodes stop cleanly"
for n in 1 2; do kill -TERM "${node_pid[$n]}"; done
for n in 1 2; do
  wait "${node_pid[$n]}" && status=0 || status=$?
  [ "$status" = 0 ] || fail "node $n exited with $status"
  [ ! -e "$work/node$n/serving.json" ] || fail "node $n left serving.json"
done
step "passed"
