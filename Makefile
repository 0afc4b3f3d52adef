# uhnas — the two commands a newcomer needs are `make demo` and `make check`.
# CMake does the real build; this file names the jobs.

BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
MAKEFLAGS  += --no-print-directory
CMAKE_ARGS ?=

.PHONY: all setup build check test demo sanitize bench format clean

all: build

setup:
	@scripts/setup.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# Sets up, builds and runs every test (CTest prints the summary CI reads).
check: setup build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Tests only, without the setup step.
test: build
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The main job on an embedded default: trains a small CNN on Fashion-MNIST.
demo: setup build
	@./$(BUILD)/uhnas train --arch configs/demo-arch.json --data fashion-mnist --epochs 2

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer.
sanitize: setup
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DUHNAS_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	@cd $(ASAN_BUILD) && UHNAS_SANITIZED=1 ctest --output-on-failure -j $(JOBS)

bench: setup build
	@bench/train_vs_torch

format:
	@clang-format -i include/uhnas/*.h src/*/*.c src/*/*.h tests/*.c bench/*.c 2>/dev/null || true

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
