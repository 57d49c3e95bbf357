# The two front-door commands (see README.md): `make run` and `make test`.
# Everything else is CMake; this file only strings the steps together.

BUILD_DEV     ?= build/dev
BUILD_RELEASE ?= build/release
BUILD_ASAN    ?= build/asan
BUILD_PKG     ?= build/pkg
JOBS          ?= $(shell nproc 2>/dev/null || echo 2)
MAKEFLAGS     += --no-print-directory

.PHONY: all run test deps build build-dev build-asan deb clean format format-check

all: build

deps:
	@packaging/deps.sh

build: deps
	@cmake -S . -B $(BUILD_RELEASE) -DCMAKE_BUILD_TYPE=Release >/dev/null
	@cmake --build $(BUILD_RELEASE) -j $(JOBS)

build-dev: deps
	@cmake -S . -B $(BUILD_DEV) -DCMAKE_BUILD_TYPE=Debug -DSP_DEVELOPER=ON >/dev/null
	@cmake --build $(BUILD_DEV) -j $(JOBS)

# Builds (Release), starts the demo shop API and the server, prints where to go; Ctrl-C stops both.
run: build
	@examples/run-demo.sh $(BUILD_RELEASE)

build-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DSP_DEVELOPER=ON -DSP_SANITIZE=address >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)

# Builds with strict warnings and runs every test, then the unit tests and fuzz seeds again
# under AddressSanitizer; non-zero on any failure. Several tests generate load and check rates
# and per-second figures, which a test beside them on the same two cores would disturb: those
# run one at a time (-LE quiet). The tests labelled quiet (tests/CMakeLists.txt: the layers,
# the fuzz seeds, the packaging and the pure unit tests) send no load and measure no time, so
# they run two at a time, before the others start. The two calls of a stage split its tests
# by that label, so each test runs once; every call runs whatever an earlier one found, and a
# failure in any of them fails the whole.
test: format-check build-dev build-asan
	@rc=0; \
	ctest --test-dir $(BUILD_DEV) --output-on-failure -j 2 -L quiet || rc=1; \
	ctest --test-dir $(BUILD_DEV) --output-on-failure -LE quiet || rc=1; \
	ctest --test-dir $(BUILD_ASAN) --output-on-failure -j 2 -L quiet -L 'unit|fuzz' || rc=1; \
	ctest --test-dir $(BUILD_ASAN) --output-on-failure -LE quiet -L 'unit|fuzz' || rc=1; \
	exit $$rc

# The Debian package (docs/operations.md): a Release build for the prefix /usr, then CPack.
deb: deps
	@cmake -S . -B $(BUILD_PKG) -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DSP_TESTS=OFF >/dev/null
	@cmake --build $(BUILD_PKG) -j $(JOBS)
	@cd $(BUILD_PKG) && cpack -G DEB

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

# Fails on any C file that `make format` would change (a dry run: nothing is written).
format-check: deps
	@clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
