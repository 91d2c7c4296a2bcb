# Quick start (fresh Debian, as root or with sudo):
#   make demo   - installs what is missing, builds, runs the simulated MULTICAL 403 and reads it
#   make test   - installs, builds (normal + ASan/UBSan + fuzz), runs every test
.PHONY: all deps build build-asan build-fuzz test test-unit test-asan fuzz-smoke fuzz demo bench \
        format format-check install clean

JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 600

all: build

deps:
	@scripts/install-deps

build: deps
	@cmake --preset default >/dev/null
	@cmake --build --preset default -j $(JOBS)

build-asan: deps
	@cmake --preset asan >/dev/null
	@cmake --build --preset asan -j $(JOBS)

build-fuzz: deps
	@cmake --preset fuzz >/dev/null
	@cmake --build --preset fuzz -j $(JOBS)

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

format-check: deps
	@echo "== clang-format check"
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format --dry-run -Werror

test-unit: build
	@echo "== tests (RelWithDebInfo)"
	@ctest --preset default

test-asan: build-asan
	@echo "== tests (ASan + UBSan)"
	@ctest --preset asan

fuzz-smoke: build-fuzz
	@echo "== fuzz smoke ($(FUZZ_SECONDS) s per target)"
	@scripts/run-fuzz $(FUZZ_SECONDS)

test: format-check test-unit test-asan fuzz-smoke
	@echo "== all test stages passed"

# FUZZ_RUNS=N runs each target for N executions instead (docs/testing.md).
fuzz: build-fuzz
	@scripts/run-fuzz $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),$(FUZZ_LONG_SECONDS))

demo: build
	@scripts/demo

bench: build
	@build/bench/codec_bench
	@python3 bench/read_bench.py --binary build/src/cli/kamstrup --runs 10

install: build
	@cmake --install build

clean:
	@rm -rf build build-asan build-fuzz
