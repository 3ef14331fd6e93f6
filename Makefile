# facekit - common commands. The build itself is CMake (build/); this file
# only wraps it.
#
#   make                 build (nothing else: no packages, no models)
#   make deps            install the Debian packages the build needs
#                        (scripts/install-deps.sh; sudo when not root)
#   make install [PREFIX=/usr/local] [DESTDIR=...]
#                        build and install the libraries, facekit.h,
#                        facekit.pc, the CLI and the man page
#   make demo, make test each do all set-up on a fresh Debian 12 machine:
#                        packages, build, models
#
# WERROR=OFF builds without -Werror (a newer compiler's new warnings);
# CMAKE_ARGS passes more, e.g. CMAKE_ARGS=-DFK_WITH_POSTGRESQL=OFF.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
WERROR     ?= ON
CMAKE_ARGS ?=
FACEKIT    := $(BUILD)/facekit
HOME_DIR   := $(or $(FACEKIT_HOME),$(HOME)/.facekit)
LFW        := ../shared/data/lfw-devtrain

# One step after another: `make -j test` must still install the packages
# before it builds (the build itself is parallel: cmake --build -j).
.NOTPARALLEL:
.PHONY: all deps deps-test build install models demo test test-release test-asan bench bench-anchor \
        bench-search bench-serve soak-serve eval clean

all: build

deps:
	@scripts/install-deps.sh

# The test suite's packages too (a PostgreSQL server).
deps-test:
	@scripts/install-deps.sh --test

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release -DFK_WERROR=$(WERROR) \
	  -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

models: build
	@$(FACEKIT) models fetch

# Detect the faces of face-api's demo photo sample1 (annotated copy written),
# then verify it against sample3, where the blonde woman on its right appears
# again ("verified": true), and against sample5, where nobody of sample1 is
# ("verified": false).
demo: deps models
	$(FACEKIT) detect $(HOME_DIR)/face-api/sample1.jpg --out demo-annotated.jpg > demo-detect.json
	@echo "detections: demo-detect.json, annotated photo: demo-annotated.jpg"
	$(FACEKIT) verify $(HOME_DIR)/face-api/sample1.jpg $(HOME_DIR)/face-api/sample3.jpg
	$(FACEKIT) verify $(HOME_DIR)/face-api/sample1.jpg $(HOME_DIR)/face-api/sample5.jpg

test: deps-test test-release test-asan

# The release suite; test_install installs into build/install-test and
# builds a program against it with pkg-config.
test-release: models
	@ctest --test-dir $(BUILD) --output-on-failure

# The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
test-asan: models
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DFK_SANITIZE=ON \
	  -DFK_WERROR=$(WERROR) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@ASAN_OPTIONS=detect_leaks=1 ctest --test-dir $(ASAN_BUILD) --output-on-failure

# One run of everything speed: every model's graph at batch 1 and 8 on 1
# thread and on every core with the sgemm ceiling measured in the same run,
# verify of a photo pair, represent over LFW images, stage timings on
# sample1.jpg, analyze (all four actions) on one LFW face and on sample1's
# three, and the same models and tasks under TensorFlow.js (wasm: face-api,
# Human's graph models) on the same inputs, printed as ratios with
# PASS/MISS against the targets. The peers' npm packages are pinned in
# bench/peers/package-lock.json. Then the speed anchor (bench/peers/anchor.js):
# deepface's architectures with random weights, facekit against ONNX
# Runtime's CPU engine (onnxruntime-node) on the same network, generated into
# $(BUILD)/bench-deepface/ by Debian's python3-torch + python3-onnx;
# `make bench-anchor` runs only that part, `make bench ANCHOR=0` all but it.
# Kernel GFLOP/s: build/bench_kernels.
LFW_COUNT ?= 60
ANCHOR    ?= 1
PEERS_NPM = cd bench/peers && ([ -d node_modules/@vladmandic/human ] && [ -d node_modules/onnxruntime-node ] || npm ci --no-audit --no-fund --loglevel=error)
bench: deps models
	@$(PEERS_NPM)
	@ANCHOR=$(ANCHOR) node bench/peers/compare.js $(BUILD) $(HOME_DIR) $(LFW)/images $(LFW_COUNT)

bench-anchor: build
	@$(PEERS_NPM)
	@node bench/peers/anchor.js $(BUILD)

# 1:N search: facekit exact vs faiss IndexFlatIP vs facekit ANN on synthetic
# embeddings (ROWS, DIM, ANN=none|hnsw|ivfpq|hnsw,ivfpq; bench/bench_search.c
# lists the other options: --effort, --no-flat, --threads, --queries).
ROWS ?= 100000
DIM  ?= 128
ANN  ?= hnsw
bench-search: build
	@$(BUILD)/bench_search --rows $(ROWS) --dim $(DIM) --ann $(ANN)

# facekit serve under wrk on loopback: requests/s, p50/p99 of /verify and
# /represent (LFW images, base64 JSON) at concurrency 1, 2, 8, 32, and the
# ratio to the same work in-process (SERVE_DUR per point, SERVE_WORKERS).
# soak-serve: /verify at saturation for SOAK_MIN minutes, 5xx and RSS drift.
SERVE_DUR     ?= 10s
SERVE_WORKERS ?= $(shell nproc)
SOAK_MIN      ?= 10
bench-serve: build
	@bench/bench_serve.sh $(BUILD) $(LFW)/images $(SERVE_DUR) $(SERVE_WORKERS)

soak-serve: build
	@bench/bench_serve.sh --soak $(BUILD) $(LFW)/images $(SOAK_MIN) $(SERVE_WORKERS)

eval: models
	$(FACEKIT) eval --pairs $(LFW)/pairsDevTrain.txt --images $(LFW)/images

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
