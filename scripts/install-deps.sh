#!/usr/bin/env bash
# Install the Debian packages facekit builds against, when missing.
# Safe to run repeatedly: does nothing when everything is present.
set -euo pipefail

PACKAGES=(
  cmake pkg-config gcc make
  libjpeg62-turbo-dev   # JPEG decode/encode (libjpeg-turbo)
  libpng-dev            # PNG
  libjansson-dev        # JSON: weights manifests, CLI output
  libarchive-dev        # unpacking npm tarballs
  libssl-dev            # sha512 for npm integrity (libcrypto)
  libsqlite3-dev        # the embedded gallery database
  libpq-dev             # the PostgreSQL gallery backend (libpq)
  postgresql            # a server for the PostgreSQL gallery tests
                        # (initdb/pg_ctl under /usr/lib/postgresql/*/bin)
  opencv-data           # Haar cascades (XML) for detector "opencv"; data only
  libopenblas-pthread-dev # sgemm behind the convolutions (limited to one
                          # thread per caller: facekit's pool does the threading)
  libfaiss-dev          # ANN indexes (HNSW, IVF-PQ) for --search-method ann;
                        # static C++ library, bridged by src/gallery/ann_faiss.cpp
  g++                   # that one C++ file
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
command -v npm >/dev/null 2>&1 || missing+=(npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
