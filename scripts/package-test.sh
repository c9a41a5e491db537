#!/usr/bin/env bash
# The Debian package, end to end, on this machine (root; dpkg; DCMTK):
#   sudo scripts/package-test.sh [--bin PATH] [--deb FILE]
# builds the package (scripts/package-deb.sh --fast, from --bin /
# $YUNYING_BIN / $CARGO_TARGET_DIR/release/yunying) unless --deb names one,
# installs it with dpkg -i, checks the user, directories and permissions,
# installs it over itself (an edited configuration stays), verifies the
# installed unit (systemd-analyze verify and security; the systemd package
# must be installed, systemd need not run), starts the binary as the unit
# would (below), sends a study with DCMTK's storescu, finds it with QIDO-RS,
# renders it, sees it in the embedded viewer at /viewer/ (headless Chromium,
# scripts/package-viewer-check.mjs: signed in with a read key, the study's
# worklist row with its patient and description, opened, its image painted),
# stops it with SIGTERM, removes the package (the data must stay) and purges
# it (data, configuration and user must go). Any failed step fails the run.
#
# "As the unit would": PID 1 here is not systemd, so the unit's own lines
# are read from the installed file and applied by hand: ExecStart, User,
# Group, WorkingDirectory, EnvironmentFile, UMask, LimitNOFILE, no
# capabilities (CapabilityBoundingSet=), NoNewPrivileges, and in a private
# mount namespace ProtectSystem=strict (every mount read-only) with
# ReadWritePaths, PrivateTmp and ProtectHome. The system call filter and
# MemoryDenyWriteExecute are not applied (they need systemd's seccomp).
#
# It refuses to run when a yunying package, user or /var/lib/yunying exists
# that it did not make; what it made is removed on any exit (a purge). The
# service listens on ports the system picks (port 0), so nothing else on
# the machine is disturbed. YUNYING_PKG_TEST_VIEWER=skip skips the /viewer/
# check (for a binary built without the embedded viewer, or a machine
# without Chromium, node and viewer/node_modules), saying so;
# YUNYING_PKG_TEST_STRACE=1 also checks SystemCallFilter and
# MemoryDenyWriteExecute against what the service really did (strace).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

deb=""
bin_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin_args=(--bin "$2"); shift 2 ;;
    --deb) deb="$2"; shift 2 ;;
    *) echo "usage: $0 [--bin PATH] [--deb FILE]" >&2; exit 2 ;;
  esac
done

step() { echo "== package-test: $*"; }
fail() { echo "package-test: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "run as root (it installs and purges a package)"
for tool in dpkg dpkg-deb setpriv unshare prlimit curl python3 /usr/bin/storescu /usr/bin/dcmdump systemd-analyze; do
  command -v "$tool" >/dev/null || fail "$tool is needed (scripts/install-deps.sh installs it)"
done
if [ "${YUNYING_PKG_TEST_VIEWER:-}" != skip ]; then
  # The viewer is checked in a browser (scripts/package-viewer-check.mjs).
  command -v node >/dev/null || fail "node is needed for the viewer check (or YUNYING_PKG_TEST_VIEWER=skip)"
  [ -x "${CHROMIUM:-/usr/bin/chromium}" ] || fail "Chromium is needed for the viewer check: YUNYING_WITH_BROWSER=1 scripts/install-deps.sh (or YUNYING_PKG_TEST_VIEWER=skip)"
  [ -d viewer/node_modules/playwright-core ] || fail "viewer/node_modules/playwright-core is needed for the viewer check: cd viewer && npm ci (or YUNYING_PKG_TEST_VIEWER=skip)"
fi

data=/var/lib/yunying
marker="$data/.package-test"
unit=/lib/systemd/system/yunying.service
# A leftover of an interrupted run of this script is ours to purge; anything
# else named yunying on this machine is not ours to touch.
known() { case "$(dpkg-query -W -f='${db:Status-Status}' yunying 2>/dev/null)" in installed|config-files|half-*|unpacked) return 0 ;; esac; return 1; }
if known; then
  [ -e "$marker" ] || fail "a yunying package is installed here: this test would purge it (dpkg -P yunying first)"
  step "purging the package a previous run left"
  dpkg -P yunying >/dev/null
fi
if getent passwd yunying >/dev/null || [ -e "$data" ]; then
  fail "a user yunying or $data exists that this test did not make: it would delete them"
fi

work=$(mktemp -d /tmp/yy-package-test.XXXXXX)
server_pid=""
installed=0
cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  if [ "$installed" = 1 ] && known; then
    dpkg -P yunying >/dev/null 2>&1 || echo "package-test: could not purge yunying (dpkg -P yunying)" >&2
  fi
  if [ $rc != 0 ] && [ -s "$work/server.log" ]; then
    echo "-- the server's log (last 40 lines):" >&2
    tail -n 40 "$work/server.log" >&2
  fi
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$deb" ]; then
  step "building the package"
  deb=$(scripts/package-deb.sh --fast --out "$work" "${bin_args[@]}" 2>"$work/package-deb.log" | tail -n 1) || {
    cat "$work/package-deb.log" >&2
    fail "scripts/package-deb.sh"
  }
  grep -E '^[EW]: ' "$work/package-deb.log" >&2 || true
fi
[ -f "$deb" ] || fail "no package at $deb"

step "dpkg -i $(basename "$deb")"
installed=1
dpkg -i "$deb" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
install -m 0640 -o yunying -g yunying /dev/null "$marker"

step "user, directories, permissions"
expect_stat() { # PATH "MODE OWNER:GROUP"
  local got
  got=$(stat -c '%a %U:%G' "$1") || fail "$1 is missing"
  [ "$got" = "$2" ] || fail "$1 is $got, expected $2"
}
IFS=: read -r _ _ uid gid _ home shell < <(getent passwd yunying) || fail "no user yunying"
[ "$uid" -lt 1000 ] || fail "yunying is not a system user (uid $uid)"
[ "$home" = "$data" ] || fail "yunying's home is $home"
[ "$shell" = /usr/sbin/nologin ] || fail "yunying's shell is $shell"
[ "$(getent group yunying | cut -d: -f3)" = "$gid" ] || fail "yunying's primary group is not yunying"
expect_stat "$data" "750 yunying:yunying"
expect_stat /etc/yunying "750 root:yunying"
expect_stat /etc/yunying/yunying.toml "640 root:yunying"
expect_stat /usr/bin/yunying "755 root:root"
expect_stat "$unit" "644 root:root"
/usr/bin/yunying --version >/dev/null || fail "the installed binary does not run"
file_info=$(file -b /usr/bin/yunying 2>/dev/null || echo stripped)
[[ "$file_info" != *"not stripped"* ]] || fail "the installed binary is not stripped"

step "dpkg -i again (an upgrade): the administrator's configuration and modes stay"
echo "# changed by package-test" >> /etc/yunying/yunying.toml
dpkg -i "$deb" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i over itself"; }
tail -n 1 /etc/yunying/yunying.toml | grep 'changed by package-test' >/dev/null || fail "reinstalling replaced the edited configuration"
expect_stat /etc/yunying/yunying.toml "640 root:yunying"
expect_stat "$data" "750 yunying:yunying"
[ "$(getent passwd yunying | cut -d: -f3)" = "$uid" ] || fail "reinstalling changed the user"

step "systemd-analyze verify $unit"
verify=$(systemd-analyze verify "$unit" 2>&1) || { echo "$verify" >&2; fail "systemd-analyze verify"; }
[ -z "$verify" ] || { echo "$verify" >&2; fail "systemd-analyze verify printed warnings"; }
exposure=$(systemd-analyze security --offline=true "$unit" 2>&1 | sed -n 's/.*Overall exposure level for yunying.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
echo "   systemd-analyze security: exposure $exposure (0 = locked down, 10 = unprotected)"
python3 -c "import sys; sys.exit(0 if float('$exposure') <= 2.0 else 1)" || fail "exposure $exposure is above 2.0"

# One setting of the installed unit ([Service] lines; the last one wins).
unit_value() { sed -n "s/^$1=//p" "$unit" | tail -n 1; }
exec_start=$(unit_value ExecStart)
user=$(unit_value User)
group=$(unit_value Group)
workdir=$(unit_value WorkingDirectory)
env_file=$(unit_value EnvironmentFile)
env_file=${env_file#-}
umask_value=$(unit_value UMask)
nofile=$(unit_value LimitNOFILE)
rw_paths=$(unit_value ReadWritePaths)
stop_timeout=$(unit_value TimeoutStopSec)
if [ -z "$exec_start" ] || [ -z "$user" ] || [ -z "$workdir" ]; then fail "the unit lacks ExecStart, User or WorkingDirectory"; fi
[ "$(unit_value ProtectSystem)" = strict ] || fail "the unit does not say ProtectSystem=strict"
[ "$(unit_value NoNewPrivileges)" = yes ] || fail "the unit does not say NoNewPrivileges=yes"
[ -z "$(unit_value CapabilityBoundingSet)" ] || fail "the unit grants capabilities (only port-104.conf may)"

step "the service's registry: an AE that may store, a read key (as $user)"
as_service() { (cd / && runuser -u "$user" -- "$@"); }
conf=(--config /etc/yunying/yunying.toml)
as_service /usr/bin/yunying "${conf[@]}" ae add PKGTEST 127.0.0.1 104 --institution PKGTEST --new-institution --allow store \
  >/dev/null || fail "yunying ae add"
# The key goes to a file only root reads, and from there into curl's
# headers: never into a command line or a log.
(umask 077; as_service /usr/bin/yunying "${conf[@]}" key add package-test --platform --scopes dicomweb:read 2>/dev/null \
  | sed -n 's/^\(yk_[0-9a-f_]*\)$/Authorization: Bearer \1/p' > "$work/auth-header")
[ -s "$work/auth-header" ] || fail "yunying key add printed no key"
# The ports: whatever the system gives (the environment file the unit reads).
install -m 0640 -o root -g yunying /dev/null "$env_file"
printf 'YUNYING_DICOM_PORT=0\nYUNYING_HTTP_PORT=0\n' > "$env_file"

step "starting it as the unit would: $exec_start (user $user, no capabilities, read-only system)"
rm -f "$data/serving.json"
env_args=(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME="$data" USER="$user" LOGNAME="$user"
  SHELL=/usr/sbin/nologin)
while IFS= read -r line; do
  case "$line" in ''|'#'*) ;; *) env_args+=("$line") ;; esac
done < "$env_file"
# ProtectSystem=strict: every writable mount read-only (in this namespace
# only); then ReadWritePaths writable again; PrivateTmp, ProtectHome.
# Arguments: WorkingDirectory, UMask, ReadWritePaths, then the command.
# shellcheck disable=SC2016
sandbox='set -e
findmnt -rn -o TARGET,OPTIONS | while read -r target options; do
  case "$target" in /proc*|/sys*|/dev*) continue ;; esac
  case ",$options," in *,ro,*) continue ;; esac
  mount -o remount,bind,ro "$target"
done
for p in $2; do mount --bind "$p" "$p"; mount -o remount,bind,rw "$p"; done
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /tmp
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs /var/tmp
for h in /home /root /run/user; do [ -d "$h" ] && mount -t tmpfs -o mode=0755,nosuid,nodev tmpfs "$h"; done
cd "$0"
umask "$1"
shift 2
exec "$@"'
read -r -a exec_words <<< "$exec_start"
# YUNYING_PKG_TEST_STRACE=1: run it under strace, to check afterwards that
# every system call it made passes the unit's SystemCallFilter and that it
# never maps memory writable and executable (MemoryDenyWriteExecute).
trace=""
if [ "${YUNYING_PKG_TEST_STRACE:-0}" = 1 ]; then
  command -v strace >/dev/null || fail "YUNYING_PKG_TEST_STRACE=1 needs strace"
  trace="$data/.package-test.strace"
  exec_words=(strace -f -qq -o "$trace" "${exec_words[@]}")
fi
# LimitNOFILE: systemd sets it with its own privileges; a root without
# CAP_SYS_RESOURCE (a container) cannot go above its own hard limit.
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "${nofile:-0}" -gt "$hard" ]; then
  echo "   LimitNOFILE=$nofile is above this shell's hard limit $hard (no CAP_SYS_RESOURCE here): using $hard"
  nofile=$hard
fi
unshare --mount --propagation private -- sh -c "$sandbox" "$workdir" "${umask_value:-0022}" "$rw_paths" \
  prlimit --nofile="$nofile:$nofile" -- \
  setpriv --reuid="$user" --regid="${group:-$user}" --init-groups --no-new-privs --bounding-set=-all --inh-caps=-all -- \
  env -i "${env_args[@]}" "${exec_words[@]}" > "$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 300); do
  [ -s "$data/serving.json" ] && break
  kill -0 "$server_pid" 2>/dev/null || fail "the service exited at start"
  sleep 0.1
done
[ -s "$data/serving.json" ] || fail "the service wrote no serving.json within 30 s"
read -r served_pid dicom_port http_port < <(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(s["pid"], s["dicom_port"], s["http_port"])' "$data/serving.json")
if [ -n "$trace" ]; then
  [ "$(ps -o ppid= -p "$served_pid" | tr -d ' ')" = "$server_pid" ] || fail "serving.json names pid $served_pid, not strace's child"
else
  [ "$served_pid" = "$server_pid" ] || fail "serving.json names pid $served_pid, the unit's process is $server_pid"
fi
[ "$(stat -c %U /proc/"$served_pid")" = "$user" ] || fail "the service does not run as $user"
grep -q '^CapEff:[[:space:]]*0*$' /proc/"$served_pid"/status || fail "the service has effective capabilities"
grep -q '^NoNewPrivs:[[:space:]]*1$' /proc/"$served_pid"/status || fail "the service may gain privileges"
mount_opts() { awk -v m="$1" '$5 == m { split($6, o, ","); print o[1] }' /proc/"$served_pid"/mountinfo | tail -n 1; }
[ "$(mount_opts /)" = ro ] || fail "the service sees / writable (ProtectSystem=strict)"
for p in $rw_paths; do [ "$(mount_opts "$p")" = rw ] || fail "the service cannot write $p (ReadWritePaths)"; done
echo "   serving: DICOM $dicom_port, HTTP $http_port (pid $server_pid)"
http="http://127.0.0.1:$http_port"

step "C-STORE with DCMTK storescu"
study_file=testdata/dicom/ct_implicit_le.dcm
tag_value() { dcmdump +P "$1" "$study_file" | sed -n 's/.*\[\(.*\)\].*/\1/p' | head -n 1; }
study_uid=$(tag_value 0020,000d)
patient_name=$(tag_value 0010,0010)
study_description=$(tag_value 0008,1030)
[ -n "$study_uid" ] || fail "no Study Instance UID in $study_file"
if [ -z "$patient_name" ] || [ -z "$study_description" ]; then fail "no Patient's Name or Study Description in $study_file"; fi
/usr/bin/storescu -aet PKGTEST -aec YUNYING 127.0.0.1 "$dicom_port" "$study_file" > "$work/storescu.log" 2>&1 \
  || { cat "$work/storescu.log" >&2; fail "storescu"; }

step "QIDO-RS finds it; WADO-RS renders it"
curl_json() { curl -sS -f --max-time 20 -H @"$work/auth-header" -H 'Accept: application/dicom+json' "$@"; }
code=$(curl -sS -o /dev/null -w '%{http_code}' --max-time 20 "$http/dicom-web/studies")
[ "$code" = 401 ] || fail "QIDO-RS without credentials answered $code, expected 401"
instances=$(curl_json "$http/dicom-web/studies/$study_uid/instances") || fail "QIDO-RS for the study"
read -r series_uid sop_uid < <(python3 -c '
import json, sys
rows = json.loads(sys.stdin.read() or "[]")
if len(rows) != 1: sys.exit("expected 1 instance, got %d" % len(rows))
print(rows[0]["0020000E"]["Value"][0], rows[0]["00080018"]["Value"][0])' <<< "$instances") || fail "QIDO-RS did not return the instance sent"
curl -sS -f --max-time 60 -H @"$work/auth-header" -H 'Accept: image/jpeg' -o "$work/rendered" \
  "$http/dicom-web/studies/$study_uid/series/$series_uid/instances/$sop_uid/rendered" || fail "WADO-RS rendered"
[ "$(head -c 2 "$work/rendered" | od -An -tx1 | tr -d ' ')" = ffd8 ] || fail "the rendered image is not a JPEG"

step "the viewer at /viewer/: the study in the worklist, opened, its image on screen (headless Chromium)"
if [ "${YUNYING_PKG_TEST_VIEWER:-}" = skip ]; then
  echo "   SKIPPED (YUNYING_PKG_TEST_VIEWER=skip): /viewer/ not checked"
else
  code=$(curl -sS -o "$work/viewer.html" -w '%{http_code}' --max-time 20 "$http/viewer/")
  [ "$code" = 200 ] || fail "/viewer/ answered $code (a binary without the embedded viewer? see README)"
  grep -qi '<script' "$work/viewer.html" || fail "/viewer/ is not the viewer's page"
  curl -sS -f --max-time 20 "$http/viewer/config.json" | grep dicom-web >/dev/null || fail "/viewer/config.json"
  # Signs in with the read key made above (the package's configuration
  # refuses anonymous requests); 60 s at most, timeout(1) as a backstop.
  timeout -k 5 90 node scripts/package-viewer-check.mjs "$http" "$study_uid" "$patient_name" "$study_description" "$work/auth-header" \
    || fail "the study is not seen in the viewer (scripts/package-viewer-check.mjs)"
fi

step "SIGTERM: a graceful stop"
kill -TERM "$served_pid"
limit=$(( ${stop_timeout:-90} * 10 ))
for _ in $(seq 1 "$limit"); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$server_pid" 2>/dev/null && fail "still running ${stop_timeout:-90} s after SIGTERM (TimeoutStopSec)"
wait "$server_pid" && status=0 || status=$?
server_pid=""
[ "$status" = 0 ] || fail "the service exited with status $status after SIGTERM"
[ ! -e "$data/serving.json" ] || fail "serving.json is still there after a clean stop"
grep -q 'stopped' "$work/server.log" || fail "the log does not say it stopped"
if [ -n "$trace" ]; then
  step "system calls against SystemCallFilter, mappings against MemoryDenyWriteExecute"
  mv "$trace" "$work/strace"
  # Every name a filter line allows (groups expanded); `~` lines deny.
  expand() {
    systemd-analyze syscall-filter "$1" | sed -n '2,$p' | awk '/^ +[@a-z_0-9]/ {print $1}' | while read -r name; do
      case "$name" in @*) expand "$name" ;; *) echo "$name" ;; esac
    done
  }
  : > "$work/allowed"; : > "$work/denied"
  while read -r filter; do
    case "$filter" in
      '~'*) for g in ${filter#\~}; do expand "$g"; done >> "$work/denied" ;;
      *) for g in $filter; do expand "$g"; done >> "$work/allowed" ;;
    esac
  done < <(sed -n 's/^SystemCallFilter=//p' "$unit")
  sort -u -o "$work/allowed" "$work/allowed"; sort -u -o "$work/denied" "$work/denied"
  grep -oP '^\d+ +\K[a-z0-9_]+(?=\()' "$work/strace" | sort -u > "$work/used"
  outside=$( { comm -23 "$work/used" "$work/allowed"; comm -12 "$work/used" "$work/denied"; } | sort -u | tr '\n' ' ')
  [ -z "$outside" ] || fail "system calls the unit's filter would refuse: $outside"
  ! grep -qE '(mmap|mprotect|pkey_mprotect)\(.*(PROT_WRITE\|PROT_EXEC|PROT_EXEC\|PROT_WRITE)' "$work/strace" \
    || fail "a writable and executable mapping (MemoryDenyWriteExecute would refuse it)"
  ! grep -qE '^[0-9]+ +(mprotect|pkey_mprotect)\(.*PROT_EXEC' "$work/strace" \
    || fail "memory made executable after mapping (MemoryDenyWriteExecute would refuse it)"
  echo "   $(wc -l < "$work/used") distinct system calls, all allowed; no writable+executable memory"
fi
foreign=$(find "$data" ! -user "$user" -print -quit)
[ -z "$foreign" ] || fail "$foreign in the data directory is not owned by $user"

step "dpkg -r: the program goes, the data stays"
dpkg -r yunying > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -r"; }
[ ! -e /usr/bin/yunying ] || fail "/usr/bin/yunying is still there after dpkg -r"
[ ! -e "$unit" ] || fail "$unit is still there after dpkg -r"
[ -s "$data/index.sqlite" ] || fail "dpkg -r deleted the index"
[ -n "$(find "$data/store" -type f -name '*.dcm' -print -quit)" ] || fail "dpkg -r deleted the stored instance"
getent passwd yunying >/dev/null || fail "dpkg -r deleted the user"
[ -f /etc/yunying/yunying.toml ] || fail "dpkg -r deleted the configuration"

step "dpkg -P: data, configuration and user go"
dpkg -P yunying > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -P"; }
installed=0
[ ! -e "$data" ] || fail "$data is still there after dpkg -P"
[ ! -e /etc/yunying ] || fail "/etc/yunying is still there after dpkg -P"
! getent passwd yunying >/dev/null || fail "the user yunying is still there after dpkg -P"
! getent group yunying >/dev/null || fail "the group yunying is still there after dpkg -P"
! dpkg-statoverride --list | grep yunying >/dev/null || fail "a dpkg-statoverride for yunying is left"
for left in /etc/systemd/system/yunying.service /etc/systemd/system/multi-user.target.wants/yunying.service \
  /var/lib/systemd/deb-systemd-helper-enabled/yunying.service.dsh-also; do
  if [ -e "$left" ] || [ -L "$left" ]; then fail "$left is left after dpkg -P"; fi
done
! known || fail "dpkg still lists the package"

step "passed"
