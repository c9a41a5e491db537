#!/usr/bin/env bash
# Install what Yunying's tests, demo and benchmarks need, once. Idempotent:
# it checks before it installs, so repeat runs cost nothing.
set -euo pipefail

need_apt=()
[ -x /usr/bin/storescu ] || need_apt+=(dcmtk)
# tests/it/durability.rs reads the flushes ingest makes with strace.
command -v strace >/dev/null || need_apt+=(strace)
# scripts/package-test.sh installs the Debian package, which depends on
# adduser (its postinst makes the user yunying).
command -v adduser >/dev/null || need_apt+=(adduser)
# It verifies the package's unit with systemd-analyze (the systemd package;
# it installs and works where systemd is not PID 1, as in a container: it
# does not make systemd the init, systemd-sysv would).
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
# yunying-transcode builds CharLS and libjpeg-turbo from source with CMake;
# nasm gives libjpeg-turbo its SIMD code, which the build requires
# (turbojpeg-sys require-simd: several times faster JPEG).
command -v cmake >/dev/null || need_apt+=(cmake)
command -v nasm >/dev/null || need_apt+=(nasm)
# yunying-atna's tests validate audit messages against the DICOM audit
# schema (RELAX NG compact) with jing, and send them through a private
# rsyslogd over TLS (its GnuTLS network stream driver) with certificates
# the openssl command makes.
command -v jing >/dev/null || need_apt+=(jing)
# Remote reading's reports (yunying-report, issue 27): a Chinese font for
# the PDF (also what a server with [reading] needs), dicom3tools' dciodvfy
# and poppler's pdftotext to check the SR, KOS and PDF the tests make.
[ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
command -v dciodvfy >/dev/null || need_apt+=(dicom3tools)
command -v pdftotext >/dev/null || need_apt+=(poppler-utils)
command -v openssl >/dev/null || need_apt+=(openssl)
[ -x /usr/sbin/rsyslogd ] || need_apt+=(rsyslog)
ls /usr/lib/*/rsyslog/lmnsd_gtls.so >/dev/null 2>&1 || need_apt+=(rsyslog-gnutls)
# The distributed-backend tests and benchmarks (YUNYING_WITH_SERVICES=1) run
# a throwaway PostgreSQL cluster and Garage (storage/local-services.sh); the
# demo needs neither.
if [ "${YUNYING_WITH_SERVICES:-0}" = 1 ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  # The admin guide's reverse-proxy example runs in Debian's nginx.
  [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
  # scripts/package-check-compose.sh resolves packaging/compose.yaml with
  # podman-compose, which asks podman for its version first (no container
  # is run: there is no registry to pull images from here).
  command -v podman >/dev/null || need_apt+=(podman)
fi
if [ "${YUNYING_WITH_ORTHANC:-0}" = 1 ]; then
  [ -x /usr/sbin/Orthanc ] || need_apt+=(orthanc orthanc-dicomweb)
  [ -f /usr/share/orthanc/plugins/libOrthancDicomWeb.so ] || need_apt+=(orthanc-dicomweb)
fi
# Browser tests of the viewer: Debian's Chromium (driven by playwright-core)
# and Firefox ESR (puppeteer-core), and CJK fonts, so Chinese names render as
# characters in screenshots.
if [ "${YUNYING_WITH_BROWSER:-0}" = 1 ]; then
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
  [ -x /usr/bin/firefox-esr ] || need_apt+=(firefox-esr)
  # Firefox's WebGL (the MPR tests) without a display: EGL and Mesa's software renderer, llvmpipe.
  for pkg in libegl-mesa0 libgl1-mesa-dri; do dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg"); done
  [ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "== apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
  if [[ " ${need_apt[*]} " == *" orthanc "* ]]; then
    # Tests and benchmarks start their own Orthanc with their own
    # configuration; the packaged service would only hold ports 4242/8042.
    $SUDO systemctl disable --now orthanc >/dev/null 2>&1 || $SUDO service orthanc stop >/dev/null 2>&1 || true
  fi
  if [[ " ${need_apt[*]} " == *" rsyslog "* ]]; then
    # Tests start their own rsyslogd with their own configuration; the
    # packaged service is not needed for them.
    $SUDO systemctl disable --now rsyslog >/dev/null 2>&1 || $SUDO service rsyslog stop >/dev/null 2>&1 || true
  fi
  if [[ " ${need_apt[*]} " == *" postgresql "* ]]; then
    # Tests start their own cluster on their own port.
    $SUDO systemctl disable --now postgresql >/dev/null 2>&1 || $SUDO service postgresql stop >/dev/null 2>&1 || true
  fi
fi

# pydicom-data (imported as data_store) holds the larger test images that
# tests/py/decode_coverage.py decodes along with pydicom's bundled ones.
if ! python3 -c "import pydicom, pynetdicom, numpy, dicomweb_client, requests, pylibjpeg, openjpeg, libjpeg, jpeg_ls, data_store" 2>/dev/null; then
  echo "== pip install pydicom pynetdicom numpy dicomweb-client, pixel decoders and pydicom-data"
  python3 -m pip install -q "pydicom>=3,<4" "pynetdicom>=3,<4" "numpy<3" "dicomweb-client>=0.59,<1" requests \
    pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pyjpegls "pydicom-data>=1,<2"
fi

# tests/py/annotations_check.py reads the viewer's TID 1500 SRs as highdicom does.
if ! python3 -c "import highdicom" 2>/dev/null; then
  echo "== pip install highdicom"
  python3 -m pip install -q "highdicom>=0.28,<0.29"
fi

# benches/soak.py draws its plots with Pillow.
if ! python3 -c "import PIL" 2>/dev/null; then
  echo "== pip install Pillow (benches/soak.py's plots)"
  python3 -m pip install -q "Pillow>=10,<14"
fi

# yunying-hl7's acceptance test sends ADT messages with a real HL7 client
# library: python `hl7` (hl7.client.MLLPClient and its mllp_send command).
if ! python3 -c "import hl7.client" 2>/dev/null; then
  echo "== pip install hl7"
  python3 -m pip install -q "hl7>=0.4.5,<0.5"
fi

# The OpenAPI description's check (tests/it/openapi.rs runs
# tests/openapi/run_schemathesis.py): schemathesis, at the pinned version.
SCHEMATHESIS_PIN="$(grep -E '^schemathesis==' "$(dirname "$0")/../tests/openapi/requirements.txt" | cut -d= -f3)"
if ! python3 -c "import importlib.metadata as m, sys; sys.exit(m.version('schemathesis') != '$SCHEMATHESIS_PIN')" 2>/dev/null; then
  echo "== pip install schemathesis $SCHEMATHESIS_PIN (tests/openapi/requirements.txt)"
  python3 -m pip install -q -r "$(dirname "$0")/../tests/openapi/requirements.txt"
fi

# The S3 server for tests and local development: Garage, built once from
# crates.io (about 12 minutes on 2 cores) and cached outside the clone
# (storage/README.md says why not the lighter s3s-fs).
GARAGE_VERSION=2.5.0
TOOLS="$HOME/.cache/yunying/tools"
if [ "${YUNYING_WITH_SERVICES:-0}" = 1 ] && { [ ! -x "$TOOLS/bin/garage" ] || ! "$TOOLS/bin/garage" --version 2>/dev/null | grep -q "$GARAGE_VERSION"; }; then
  echo "== cargo install garage $GARAGE_VERSION (once; cached in $TOOLS)"
  CARGO_TARGET_DIR="$HOME/.cache/yunying/tools-target" \
    cargo install garage --version "$GARAGE_VERSION" --locked --root "$TOOLS"
  rm -rf "$HOME/.cache/yunying/tools-target"   # 2 GB of intermediate files; the binary is what we keep
fi

# The OpenID Connect provider the sign-in tests run on loopback
# (tests/oidc: the certified `oidc-provider`, installed from the npm
# registry by its lock file; tests/it/people_oidc.rs starts it).
IDP_DIR="$(cd "$(dirname "$0")/.." && pwd)/tests/oidc"
if command -v npm >/dev/null && { [ ! -d "$IDP_DIR/node_modules" ] || [ "$IDP_DIR/package-lock.json" -nt "$IDP_DIR/node_modules/.package-lock.json" ]; }; then
  echo "== npm ci (tests/oidc: the test identity provider)"
  (cd "$IDP_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
