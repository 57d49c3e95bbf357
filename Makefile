# The two front-door commands (see README.md): `make run` and `make test`.
# Everything else is CMake; this file only strings the steps together.

BUILD_DEV     ?= build/dev
BUILD_RELEASE ?= build/release
JOBS          ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: all run test deps build build-dev clean format

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

# Builds with strict warnings and runs every test; non-zero on any failure.
test: build-dev
	@ctest --test-dir $(BUILD_DEV) --output-on-failure -j $(JOBS)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build
