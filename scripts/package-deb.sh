#!/usr/bin/env bash
# Build the Debian package of Yunying from a release binary:
#   scripts/package-deb.sh [--bin PATH] [--out DIR] [--fast]
# The binary: --bin, else $YUNYING_BIN, else $CARGO_TARGET_DIR/release/yunying
# (build it first: `cargo build --release --locked`; the web viewer is inside
# it, so the package ships no viewer files). Writes
# DIR/yunying_<version>_<arch>.deb (default DIR: $CARGO_TARGET_DIR/debian)
# and prints its path on the last line. --fast compresses with gzip -1 (for
# tests); the default is dpkg-deb's xz. Runs lintian when it is installed.
#
# Layout: /usr/bin/yunying (stripped), /lib/systemd/system/yunying.service,
# /etc/yunying/yunying.toml (conffile), /usr/share/yunying/systemd/port-104.conf,
# /usr/share/doc/yunying/. The maintainer scripts (packaging/debian/) make
# the user yunying and /var/lib/yunying; see packaging/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

bin="${YUNYING_BIN:-$CARGO_TARGET_DIR/release/yunying}"
out="$CARGO_TARGET_DIR/debian"
compress=(-Zxz)
while [ $# -gt 0 ]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --fast) compress=(-Zgzip -z1); shift ;;
    *) echo "usage: $0 [--bin PATH] [--out DIR] [--fast]" >&2; exit 2 ;;
  esac
done
bin="$(readlink -f "$bin" 2>/dev/null || echo "$bin")"
[ -x "$bin" ] || { echo "no yunying binary at $bin: cargo build --release --locked, or pass --bin / YUNYING_BIN" >&2; exit 1; }
for tool in dpkg-deb strip gzip; do
  command -v "$tool" >/dev/null || { echo "$tool is needed (apt-get install dpkg binutils gzip)" >&2; exit 1; }
done

# The package's version is the workspace's; the binary must say the same.
version=$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml","rb"))["workspace"]["package"]["version"])')
bin_version=$("$bin" --version | awk '{print $2}')
if [ "$bin_version" != "$version" ]; then
  echo "the binary says version $bin_version, Cargo.toml $version: rebuild the binary" >&2
  exit 1
fi
arch=$(dpkg --print-architecture)

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/root"
doc="$root/usr/share/doc/yunying"
install -d -m 0755 "$root/usr/bin" "$root/lib/systemd/system" "$root/usr/share/yunying/systemd" "$doc"
install -d -m 0750 "$root/etc/yunying"
strip --strip-unneeded -o "$root/usr/bin/yunying" "$bin"
chmod 0755 "$root/usr/bin/yunying"
install -m 0644 packaging/yunying.service "$root/lib/systemd/system/yunying.service"
# root:root 0640 in the archive; the postinst gives the group yunying read
# access through dpkg-statoverride (the user does not exist before it runs).
install -m 0640 packaging/yunying.toml "$root/etc/yunying/yunying.toml"
install -m 0644 packaging/port-104.conf "$root/usr/share/yunying/systemd/port-104.conf"
install -m 0644 packaging/debian/copyright "$doc/copyright"
install -m 0644 packaging/debian/README.Debian "$doc/README.Debian"
install -m 0644 packaging/README.md "$doc/README.md"
install -m 0644 yunying.example.toml "$doc/yunying.example.toml"
gzip -9n "$doc/yunying.example.toml"
install -D -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/yunying"
# A manual page from the binary's own --help (help2man), when available.
if command -v help2man >/dev/null; then
  install -d -m 0755 "$root/usr/share/man/man1"
  help2man --no-info --no-discard-stderr --name "regional medical imaging archive (DICOM, DICOMweb, cloud film)" \
    --version-string "$version" "$root/usr/bin/yunying" | gzip -9n > "$root/usr/share/man/man1/yunying.1.gz"
  chmod 0644 "$root/usr/share/man/man1/yunying.1.gz"
fi
# Maintainer: $YUNYING_DEB_MAINTAINER, else Debian's DEBFULLNAME/DEBEMAIL.
maintainer="${YUNYING_DEB_MAINTAINER:-${DEBFULLNAME:-Yunying maintainers} <${DEBEMAIL:-yunying-maintainers@example.com}>}"
# A native package's changelog: this version, dated by the last commit.
date_rfc=$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
printf 'yunying (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
  "$version" "$commit" "$maintainer" "$date_rfc" | gzip -9n > "$doc/changelog.gz"
chmod 0644 "$doc/changelog.gz"

# Shared libraries the binary needs, as dpkg-shlibdeps reads them from its
# ELF header (dpkg-dev); without dpkg-dev, the three every Rust binary with
# C++ codecs links.
depends="libc6, libgcc-s1, libstdc++6"
if command -v dpkg-shlibdeps >/dev/null; then
  mkdir -p "$stage/src/debian"
  printf 'Source: yunying\n\nPackage: yunying\nArchitecture: any\n' > "$stage/src/debian/control"
  shlibs=$(cd "$stage/src" && dpkg-shlibdeps -O "$root/usr/bin/yunying" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
  [ -n "$shlibs" ] && depends="$shlibs"
fi

install -d -m 0755 "$root/DEBIAN"
size=$(du -sk --apparent-size --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s|@MAINTAINER@|$maintainer|" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
  packaging/debian/control.in > "$root/DEBIAN/control"
install -m 0644 packaging/debian/conffiles "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
  install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) \
  > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/yunying_${version}_${arch}.deb"
dpkg-deb --root-owner-group "${compress[@]}" --build "$root" "$deb" >/dev/null
if command -v lintian >/dev/null; then
  echo "== lintian $deb" >&2
  lintian "$deb" >&2 || echo "lintian reported errors (above)" >&2
else
  echo "== lintian is not installed (apt-get install lintian): not run" >&2
fi
echo "$deb"
