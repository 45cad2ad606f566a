# nmlab - the two commands: `make run` and `make test`. See README.md.
BUILD   ?= build
SANDIR  ?= build-san
FUZZDIR ?= build-fuzz
MESON   ?= meson
# Debian packages nmlab needs to build, test and run (installed by `make deps`).
PKGS = gcc meson ninja-build pkg-config \
       libncurses-dev liblua5.4-dev libpng-dev libcairo2-dev zlib1g-dev \
       libopenblas-openmp-dev libjansson-dev libprotobuf-c-dev protobuf-c-compiler \
       libcriterion-dev fonts-dejavu-core dataset-fashion-mnist tmux \
       libonnx-testdata clang libclang-rt-14-dev libomp-14-dev \
       libsqlite3-dev libopenmpi-dev openmpi-bin

.PHONY: all deps build run test test-fast sanitize fuzz fuzz-build fuzz-test bench bench-peers peer-deps test-peers test-scalesim peer-export clean

all: build

# Installs the missing packages once; prints what it installs. Without root it
# prints the exact apt-get line to run instead.
deps:
	@missing=""; for p in $(PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "deps: all $(words $(PKGS)) packages present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
	  echo "deps: missing packages; as root run:"; \
	  echo "  apt-get update && apt-get install -y --no-install-recommends$$missing"; exit 1; fi; \
	echo "deps: installing$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing

$(BUILD)/build.ninja:
	$(MESON) setup $(BUILD) --buildtype=debugoptimized

build: deps $(BUILD)/build.ninja
	$(MESON) compile -C $(BUILD)

run: build
	./$(BUILD)/app/nmlab $(ARGS)

# Every test, in the normal build and under ASan+UBSan.
test: build
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2
	@$(MAKE) --no-print-directory sanitize
	@$(MAKE) --no-print-directory fuzz-test
	@sh tests/summary.sh $(BUILD) $(SANDIR) $(FUZZDIR)

test-fast: build
	$(MESON) test -C $(BUILD) --print-errorlogs --num-processes 2

$(SANDIR)/build.ninja:
	$(MESON) setup $(SANDIR) --buildtype=debug -Db_sanitize=address,undefined -Db_lundef=false

sanitize: deps $(SANDIR)/build.ninja
	$(MESON) compile -C $(SANDIR)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MESON) test -C $(SANDIR) --print-errorlogs --num-processes 2 --no-suite slow

# libFuzzer targets (tests/fuzz/): clang, ASan+UBSan, and coverage
# instrumentation (fuzzer-no-link) on all code; the fuzz executables alone
# link libFuzzer. The instrumentation keeps clang from vectorising the
# `omp simd` loops, which it reports as -Wpass-failed: silenced here only.
$(FUZZDIR)/build.ninja:
	CC=clang $(MESON) setup $(FUZZDIR) --buildtype=debugoptimized \
	  -Db_sanitize=address,undefined -Db_lundef=false \
	  -Dc_args="-fsanitize=fuzzer-no-link -Wno-pass-failed"

fuzz-build: deps $(FUZZDIR)/build.ninja
	$(MESON) compile -C $(FUZZDIR) fuzzers

# Replays every seed corpus and fuzzes each target FUZZ_TEST_SECONDS (5).
fuzz-test: fuzz-build
	$(MESON) test -C $(FUZZDIR) --suite fuzz --no-rebuild --print-errorlogs --num-processes 2

# Fuzzes every target FUZZ_SECONDS in turn; the growing corpora are kept in
# $(FUZZDIR)/fuzz-corpus/, crash reproducers in $(FUZZDIR)/fuzz-corpus/artifacts/.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = safetensors safetensors_model onnx npy idx idx_gz scalesim_csv energy_json \
               settings history pipeline lua_api
fuzz: fuzz-build
	@failed=""; for t in $(FUZZ_TARGETS); do \
	  echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	  sh tests/fuzz/run_fuzz.sh $(FUZZDIR)/tests/fuzz/fuzz_$$t tests/fuzz/corpus/$$t \
	    $(FUZZ_SECONDS) $(FUZZDIR)/fuzz-corpus/$$t || failed="$$failed $$t"; done; \
	if [ -n "$$failed" ]; then echo "fuzz: failed:$$failed (see $(FUZZDIR)/fuzz-corpus/artifacts/)"; exit 1; fi; \
	echo "fuzz: all $(words $(FUZZ_TARGETS)) targets ran $(FUZZ_SECONDS) s without a failure"

bench: build
	$(MESON) test -C $(BUILD) --benchmark --print-errorlogs --verbose

# Other tools on the same work, in the same run (never nmlab dependencies):
# Debian's PyTorch, torchvision and onnx, installed only by these targets.
SCALESIM_PKGS = python3-numpy python3-tqdm python3-pandas python3-absl
PEER_PKGS = python3-torch python3-torchvision python3-onnx $(SCALESIM_PKGS)
PEERDIR  ?= $(BUILD)/peers
peer-deps:
	@missing=""; for p in $(PEER_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	[ -z "$$missing" ] || { echo "peer-deps: installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; }

# torchvision networks exported to ONNX by PyTorch, imported and run by
# nmlab, outputs compared (tests/peers/check_onnx.lua), after nmlab's masks
# run on torchvision's resnet18 (tests/peers/torch_masks_peer.py); fails
# unless all pass.
test-peers: build peer-deps
	/usr/bin/python3 tests/peers/torch_onnx_export.py $(PEERDIR)
	/usr/bin/python3 tests/peers/torch_masks_peer.py ./$(BUILD)/app/nmlab $(PEERDIR)/masks
	./$(BUILD)/app/nmlab run tests/peers/check_onnx.lua $(PEERDIR)
	./$(BUILD)/app/nmlab run tests/peers/check_groups.lua $(PEERDIR)

# SCALE-Sim v3 (Python; its source fetched from
# github.com/scalesim-project/scale-sim-v3, never copied here) beside
# nmlab's compat mode on small topologies, every report column compared
# (tests/peers/scalesim_parity.py); skips with a message when SCALESIM_SRC
# is not its source tree.
SCALESIM_SRC ?= ../ssim-src
test-scalesim: build
	@$(MAKE) --no-print-directory peer-deps PEER_PKGS="$(SCALESIM_PKGS)"
	@/usr/bin/python3 tests/peers/scalesim_parity.py ./$(BUILD)/app/nmlab $(SCALESIM_SRC) $(PEERDIR)/scalesim -q; \
	  rc=$$?; [ $$rc -eq 77 ] && exit 0; exit $$rc

# PyTorch training and running fmnist_cnn; then the forward of resnet18 and
# mobilenet_v2 (ONNX files for nmlab), batch 1 and 32, 2 threads, the two
# tools alternating, three rounds, and a table of the ratios.
bench-peers: build peer-deps
	./$(BUILD)/tests/train/bench_train 30 64
	/usr/bin/python3 tests/peers/torch_fmnist_cnn.py 30 64
	/usr/bin/python3 tests/peers/torch_onnx_export.py $(PEERDIR)/bench resnet18 mobilenet_v2
	sh tests/peers/bench_forward.sh ./$(BUILD)/app/nmlab $(PEERDIR)/bench 3

# The ways back out checked by other tools (never part of `make test`):
# nmlab's ONNX export through onnx.checker, its masks applied to
# torchvision's resnet18 with torch.nn.utils.prune (tests/peers/torch_masks_peer.py).
peer-export: build
	@for p in python3-torch python3-torchvision python3-onnx; do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || \
	  { echo "peer-export: installing $$p"; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$p; }; done
	/usr/bin/python3 tests/peers/torch_masks_peer.py ./$(BUILD)/app/nmlab

clean:
	rm -rf $(BUILD) $(SANDIR) $(FUZZDIR)
