#!/usr/bin/env bash
# Install what Yunying's tests, demo and benchmarks need, once. Idempotent:
# it checks before it installs, so repeat runs cost nothing.
set -euo pipefail

need_apt=()
[ -x /usr/bin/storescu ] || need_apt+=(dcmtk)
# yunying-transcode builds CharLS and libjpeg-turbo from source with CMake;
# nasm gives libjpeg-turbo its SIMD code (it builds without, slower).
command -v cmake >/dev/null || need_apt+=(cmake)
command -v nasm >/dev/null || need_apt+=(nasm)
if [ "${YUNYING_WITH_ORTHANC:-0}" = 1 ]; then
  [ -x /usr/sbin/Orthanc ] || need_apt+=(orthanc orthanc-dicomweb)
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
fi

if ! python3 -c "import pydicom, pynetdicom, numpy, dicomweb_client, requests, pylibjpeg, openjpeg, libjpeg, jpeg_ls" 2>/dev/null; then
  echo "== pip install pydicom pynetdicom numpy dicomweb-client and pixel decoders"
  python3 -m pip install -q "pydicom>=3,<4" "pynetdicom>=3,<4" "numpy<3" "dicomweb-client>=0.59,<1" requests \
    pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pyjpegls
fi
