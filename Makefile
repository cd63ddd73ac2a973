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

# The main job: generate a short video with the default model. Until the embedded
# Kinema-Tiny model is committed under models/kinema-tiny, the smallest model the project
# has is the tiny random-weight pipeline used by the tests (its output is noise).
DEMO_MODEL ?= $(firstword $(wildcard models/kinema-tiny/model_index.json) Tests/KinemaTests/Fixtures/tiny-pipeline/model_index.json)
DEMO_PROMPT ?= A blue cartoon face smiles, then turns sad at 1 second.
demo: build
	@mkdir -p out
	.build/release/kinema generate --model $(dir $(DEMO_MODEL)) --prompt "$(DEMO_PROMPT)" \
		--width 64 --height 64 --duration 2 --fps 8 --seed 1 --output out/demo.mp4
	@echo "demo video: out/demo.mp4"

# Benchmarks (not tests): numbers beside a reference run on the same machine.
bench: build
	$(SWIFT) run -c release kinema-bench gemm

clean:
	rm -rf .build
