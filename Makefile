# Kinema — the two commands are `make demo` and `make test`.
SWIFT ?= swift
SWIFT_RELEASE = $(SWIFT) build -c release

.PHONY: all deps build build-debug test demo bench clean

all: build

deps:
	@bash tools/ensure-deps.sh

build: deps
	$(SWIFT_RELEASE)

# Every test suite.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# Runs the main job on the smallest model the project has (see README).
demo: build
	$(SWIFT) run -c release kinema-bench demo

# Benchmarks (not tests): numbers beside a reference run on the same machine.
bench: build
	$(SWIFT) run -c release kinema-bench gemm

clean:
	rm -rf .build
