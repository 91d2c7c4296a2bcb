# Quick start (fresh Debian 12, as root or with sudo):
#   make demo   - installs what is missing, builds the two programs, runs the daemon on a simulated
#                 MULTICAL 403
#   make test   - everything CI checks: format, the Release .deb (its build tree runs the test
#                 suite; the package is installed, checked and purged), ASan/UBSan with unsigned
#                 char, fuzz smoke
.PHONY: all deps deps-build build build-asan build-fuzz test test-unit test-deb test-asan \
        fuzz-smoke fuzz demo bench format format-check deb install clean

JOBS ?= $(shell nproc)
FUZZ_SECONDS ?= 10
FUZZ_LONG_SECONDS ?= 600
# The .deb: built without running the tests inside dpkg (make test-deb runs them on its tree).
DEB_BUILD_OPTIONS ?= nocheck
DEB_VERSION = $(shell dpkg-parsechangelog -S Version)
DEB_ARCH = $(shell dpkg-architecture -qDEB_HOST_ARCH)
DEB = dist/kamstrup-reader_$(DEB_VERSION)_$(DEB_ARCH).deb

all: build

deps:
	@scripts/install-deps

deps-build:
	@scripts/install-deps --runtime --build

# The development build (RelWithDebInfo, warnings are errors).
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

# The Debian package (dpkg-buildpackage -us -uc -b, a plain Release build in build-deb/); the
# files it writes next to the source tree are moved to dist/. The build includes the tests (their
# libraries are build dependencies) unless DEB_BUILD_PROFILES=nocheck, which needs only
# `install-deps --runtime --build`.
DEB_BUILD_PROFILES ?=
deb: $(if $(filter nocheck,$(DEB_BUILD_PROFILES)),deps-build,deps)
	@echo "== Debian package (Release, build tree build-deb/)"
	@DEB_BUILD_OPTIONS="$(DEB_BUILD_OPTIONS)" DEB_BUILD_PROFILES="$(DEB_BUILD_PROFILES)" dpkg-buildpackage -us -uc -b -J$(JOBS) >build-deb.log 2>&1 \
	  || { tail -60 build-deb.log; echo "make deb: dpkg-buildpackage failed (whole log: build-deb.log)"; exit 1; }
	@mkdir -p dist
	@mv ../kamstrup-reader_$(DEB_VERSION)_$(DEB_ARCH).deb ../kamstrup-reader-dbgsym_$(DEB_VERSION)_$(DEB_ARCH).deb \
	  ../kamstrup-reader_$(DEB_VERSION)_$(DEB_ARCH).buildinfo ../kamstrup-reader_$(DEB_VERSION)_$(DEB_ARCH).changes dist/
	@ls -l dist/*.deb

# CI's only non-sanitizer build is the package's: its build tree runs the suite, then the .deb is
# installed, checked (lintian, the installed programs against the simulator, the unit) and purged.
test-deb: deps deb
	@echo "== tests (the .deb's Release build tree)"
	@ctest --test-dir build-deb --output-on-failure -j $(JOBS) --timeout 300
	@scripts/check-deb $(DEB)

# The development build's suite (not part of `make test`, which tests the .deb's build).
test-unit: build
	@echo "== tests (RelWithDebInfo)"
	@ctest --preset default

test-asan: build-asan
	@echo "== tests (ASan + UBSan, -funsigned-char)"
	@ctest --preset asan

fuzz-smoke: build-fuzz
	@echo "== fuzz smoke ($(FUZZ_SECONDS) s per target)"
	@scripts/run-fuzz $(FUZZ_SECONDS)

test: format-check test-deb test-asan fuzz-smoke
	@echo "== all test stages passed"

# FUZZ_RUNS=N runs each target for N executions instead (docs/testing.md).
fuzz: build-fuzz
	@scripts/run-fuzz $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),$(FUZZ_LONG_SECONDS))

# Builds only the two programs the demo runs.
demo: deps-build
	@cmake --preset demo >/dev/null
	@cmake --build --preset demo -j $(JOBS)
	@scripts/demo

bench: build
	@build/bench/codec_bench
	@python3 bench/read_bench.py --binary build/src/cli/kamstrup --runs 10

install: build
	@cmake --install build

clean:
	@rm -rf build build-asan build-fuzz build-deb build-deb.log dist
	@[ ! -d debian/kamstrup-reader ] || dh_clean
