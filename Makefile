# uhnas — the two commands a newcomer needs are `make demo` and `make check`.
# CMake does the real build; this file names the jobs.

BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
# seconds per fuzz target (make fuzz; make fuzz-smoke runs each for FUZZ_SMOKE_SECONDS)
FUZZ_SECONDS ?= 20
FUZZ_SMOKE_SECONDS ?= 3
JOBS       ?= 2
MAKEFLAGS  += --no-print-directory
CMAKE_ARGS ?=
# WERROR=ON|OFF sets -Werror (CI passes ON); left empty, CMake turns it on in a git checkout.
WERROR     ?=
WERROR_ARG := $(if $(WERROR),-DUHNAS_WERROR=$(WERROR))

.PHONY: all setup build check test demo sanitize tsan fuzz fuzz-smoke fuzz-build bench format clean prior-check

all: build

# What setup installs follows the goal: the tests' PyTorch reference, the benchmarks' peer.
check: SETUP_FLAGS = --check
sanitize tsan fuzz fuzz-smoke fuzz-build: SETUP_FLAGS = --sanitize
bench: SETUP_FLAGS = --bench
setup:
	@scripts/setup.sh $(SETUP_FLAGS)

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(WERROR_ARG) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Sets up, builds and runs every test (CTest prints the summary CI reads).
check: setup build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Tests only, without the setup step.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The main job on an embedded default: a small search on the realistic optical MZI
# backend (Fashion-MNIST, 24 candidates, noise-aware training, Monte-Carlo noisy accuracy),
# stored in runs/demo; `uhnas resume runs/demo` continues it if interrupted.
# The strategy is the one the evidence favours (docs/strategies.md, "Evidence").
DEMO_STRATEGY ?= llm
DEMO_WHY ?= the built-in language model (no prior): over 20 seeds at 70 candidates it beats \
random search on mzi-worst (p < 0.0001) and leads nsga2 there without significance (p = 0.25); \
on mzi-realistic all tie; by 150 candidates nsga2 has caught up, and this demo is small: \
docs/strategies.md
DEMO_ARGS ?= --backend mzi-realistic --strategy $(DEMO_STRATEGY) --population 8 --children 4 \
             --generations 4 --epochs 2 --mc 3 --limit-train 6000 --limit-test 2000
demo: setup build
	@./$(BUILD)/uhnas search $(DEMO_ARGS) --out runs/demo --replace
	@printf 'report: '
	@./$(BUILD)/uhnas report runs/demo
	@echo 'demo: ran --strategy $(DEMO_STRATEGY), $(DEMO_WHY)'

# The built-in model's shipped prior rebuilt from the shipped corpus (about 2.5 min on one
# thread) and compared byte for byte with configs/lm/prior.ckpt (bench/prior.sh made both).
# The shipped prior was computed with OpenBLAS's SkylakeX kernels (docs/user-guide.md,
# "Reproducibility"): other kernels give another checkpoint, as good, not the same bytes.
prior-check: build
	@grep -qw avx512f /proc/cpuinfo || { echo 'prior-check: the shipped prior was computed with' \
	  "OpenBLAS's SkylakeX kernels, which need AVX-512, and this CPU has none: here pretraining" \
	  'gives another checkpoint (docs/user-guide.md, "Reproducibility")'; exit 1; }
	@OPENBLAS_CORETYPE=SkylakeX ./$(BUILD)/uhnas pretrain --corpus configs/lm/corpus.gz --steps 2000 \
	  --out $(BUILD)/prior.ckpt
	@cmp configs/lm/prior.ckpt $(BUILD)/prior.ckpt && echo 'prior-check: identical to configs/lm/prior.ckpt'

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, then the concurrent
# paths under ThreadSanitizer.
sanitize: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DUHNAS_SANITIZE=ON $(WERROR_ARG) >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && UHNAS_SANITIZED=1 ctest --output-on-failure -j $(JOBS)
	@$(MAKE) tsan SETUP_DONE=1
	@$(MAKE) fuzz-smoke SETUP_DONE=1

# The concurrent paths (candidates trained at once, the asynchronous search's workers, the
# progress calls, the stop flag and its signals) under ThreadSanitizer, built with clang and
# libomp, whose Archer tool makes OpenMP's synchronisation visible; the suppressions cover
# those two runtimes' own internals only.
# OpenBLAS (libgomp's) runs one thread here, as it does inside every search job.
TSAN_TESTS = test_search$$|test_threads|test_signal|test_signals_cli|test_search_cli|test_async_cli
ARCHER     = $(lastword $(sort $(wildcard /usr/lib/llvm-*/lib/libarcher.so)))
tsan: $(if $(SETUP_DONE),,setup)
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DUHNAS_TSAN=ON \
	  -DUHNAS_NATIVE=OFF $(WERROR_ARG) >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS)
	@cd $(TSAN_BUILD) && UHNAS_SANITIZED=1 OPENBLAS_NUM_THREADS=1 OMP_TOOL_LIBRARIES=$(ARCHER) \
	  TSAN_OPTIONS="halt_on_error=1 ignore_noninstrumented_modules=1 suppressions=$(CURDIR)/tests/tsan.supp" \
	  ctest --output-on-failure -j $(JOBS) -R '$(TSAN_TESTS)'

# Every parser under libFuzzer with AddressSanitizer and UndefinedBehaviorSanitizer (clang),
# FUZZ_SECONDS per target on its seed corpus and dictionary; fails on any crash, leak or
# report, keeping the input in $(FUZZ_BUILD)/fuzz-crashes (docs/fuzzing.md).
fuzz-build: $(if $(SETUP_DONE),,setup)
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug -DUHNAS_FUZZ=ON \
	  -DUHNAS_NATIVE=OFF $(WERROR_ARG) >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
fuzz: fuzz-build
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)
# A few seconds each: what make sanitize (CI) runs.
fuzz-smoke: fuzz-build
	@scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS)

bench: setup build
	@bench/train_vs_torch

FORMAT_FILES = $(wildcard include/uhnas/*.h src/*/*.c src/*/*.h tests/*.c tests/*.h bench/*.c fuzz/*.c fuzz/*.h)
format:
	@command -v clang-format >/dev/null || \
	  { echo "make format: clang-format not found (Debian: apt-get install clang-format)" >&2; exit 1; }
	@clang-format -i $(FORMAT_FILES)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
