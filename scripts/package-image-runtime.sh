#!/usr/bin/env bash
# The runtime stage of packaging/Containerfile, built and run with podman
# on a machine that reaches Debian's mirror but no container registry:
#   sudo scripts/package-image-runtime.sh [--bin PATH]
# The base image (debian:bookworm-slim upstream) is replaced by a minimal
# Debian 12 made here with debootstrap (once; kept as the local image
# localhost/yy-bookworm-minbase), and the Node and Rust stages by a stage
# holding a binary built outside (--bin / $YUNYING_BIN /
# $CARGO_TARGET_DIR/release/yunying, stripped here). The runtime stage
# itself is taken from packaging/Containerfile as it is, from its last FROM
# on. Then: the container runs as uid 10001, its HEALTHCHECK passes, files
# have their owners and modes, the embedded viewer answers at /viewer/
# while no viewer/dist is shipped, and `podman stop`
# (SIGTERM) ends it with status 0 after a clean stop.
# Podman's runtime: runc when installed (crun refuses hybrid cgroups);
# limits are passed explicitly (a root without CAP_SYS_RESOURCE cannot
# raise them). Neither is needed on an ordinary host.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/env.sh
source scripts/env.sh

bin="${YUNYING_BIN:-$CARGO_TARGET_DIR/release/yunying}"
[ "${1:-}" = --bin ] && bin="$2"
step() { echo "== package-image-runtime: $*"; }
fail() { echo "package-image-runtime: FAILED: $*" >&2; exit 1; }
[ -x "$bin" ] || fail "no yunying binary at $bin (--bin PATH or YUNYING_BIN)"
[ "$(id -u)" = 0 ] || fail "run as root"
command -v podman >/dev/null || fail "podman is needed (apt-get install podman)"

podman=(podman)
command -v runc >/dev/null && podman+=(--runtime runc)
limits=(--ulimit "nofile=$(ulimit -Hn):$(ulimit -Hn)" --ulimit nproc=4096:4096)
base=localhost/yy-bookworm-minbase:latest
image="localhost/yunying-runtime-check:$$"
name="yy-image-check-$$"
work=$(mktemp -d /tmp/yy-image-check.XXXXXX)
cleanup() {
  "${podman[@]}" rm -f -t 0 "$name" >/dev/null 2>&1 || true
  "${podman[@]}" rmi -f "$image" >/dev/null 2>&1 || true
  # The stage holding the binary, left untagged by the build.
  "${podman[@]}" image prune -f --filter "label=yunying.image-check=$$" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if ! "${podman[@]}" image exists "$base"; then
  command -v debootstrap >/dev/null || fail "debootstrap is needed (apt-get install debootstrap)"
  step "a minimal Debian 12 base image (debootstrap, once)"
  debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian > "$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
  tar -C "$work/rootfs" -c . | "${podman[@]}" import -q - "$base" > /dev/null
  rm -rf "$work/rootfs"
fi

step "building the runtime stage of packaging/Containerfile"
mkdir -p "$work/context/packaging"
strip --strip-unneeded -o "$work/context/yunying" "$bin"
cp packaging/yunying.toml "$work/context/packaging/yunying.toml"
last_from=$(grep -n '^FROM ' packaging/Containerfile | tail -n 1 | cut -d: -f1)
{
  printf 'FROM %s AS builder\nCOPY yunying /yunying\n\n' "$base"
  tail -n +"$last_from" packaging/Containerfile | sed "1s|^FROM .*|FROM $base|"
} > "$work/Containerfile"
# --format docker: the OCI image format has no HEALTHCHECK (podman drops it).
"${podman[@]}" build --format docker --label "yunying.image-check=$$" "${limits[@]}" -q -f "$work/Containerfile" -t "$image" "$work/context" > "$work/build.log" 2>&1 \
  || { tail -n 30 "$work/build.log" >&2; fail "podman build"; }

step "running it"
"${podman[@]}" run -d --name "$name" "${limits[@]}" "$image" > /dev/null
healthy=0
for _ in $(seq 1 60); do
  if "${podman[@]}" healthcheck run "$name" > /dev/null 2>&1; then healthy=1; break; fi
  sleep 1
done
[ "$healthy" = 1 ] || { "${podman[@]}" logs "$name" 2>&1 | tail -n 20 >&2; fail "the HEALTHCHECK did not pass within 60 s"; }
echo "   HEALTHCHECK passes"
in_container() { "${podman[@]}" exec "$name" "$@"; }
[ "$(in_container id -u):$(in_container id -g)" = 10001:10001 ] || fail "it does not run as 10001:10001"
[ "$(in_container stat -c '%a %U:%G' /var/lib/yunying)" = "750 yunying:yunying" ] || fail "/var/lib/yunying"
[ "$(in_container stat -c '%a %U:%G' /etc/yunying/yunying.toml)" = "640 root:yunying" ] || fail "/etc/yunying/yunying.toml"
[ "$(in_container stat -c '%a %U:%G' /var/lib/yunying-keys)" = "750 yunying:yunying" ] || fail "/var/lib/yunying-keys"
[ -z "$(in_container find / -xdev -path '*/viewer/dist' -print -quit 2>/dev/null)" ] || fail "the image ships viewer/dist"
in_container sh -c 'touch /usr/bin/x' 2>/dev/null && fail "the service user can write /usr/bin"
viewer=$(in_container curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8042/viewer/)
[ "$viewer" = 200 ] || fail "/viewer/ answered $viewer (a binary without the embedded viewer?)"
health=$("${podman[@]}" inspect "$name" --format '{{json .Config.Healthcheck.Test}}')
echo "   runs as 10001, owners and modes as intended, the embedded viewer answers, no viewer/dist; health check: $health"

step "podman stop (SIGTERM)"
"${podman[@]}" stop -t 90 "$name" > /dev/null
status=$("${podman[@]}" inspect "$name" --format '{{.State.ExitCode}}')
[ "$status" = 0 ] || fail "it exited with status $status"
"${podman[@]}" logs "$name" > "$work/container.log" 2>&1
grep -q "stopped" "$work/container.log" || { tail -n 8 "$work/container.log" >&2; fail "its log does not say it stopped"; }
step "passed"
