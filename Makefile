# Kinema — the two commands are `make demo` and `make test`.
SWIFT ?= swift
SWIFT_RELEASE = $(SWIFT) build -c release

.PHONY: all deps build build-debug test demo bench bench-kernels bench-dit bench-vae bench-umt5 bench-tiny clean lib header header-check install test-capi test-c test-python train-tiny eval-tiny

# Where `make install` puts libkinema.so, kinema.h and kinema.pc.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
# The default model goes here; the library looks for it at <LIBDIR>/../share/kinema/models.
MODELDIR ?= $(PREFIX)/share/kinema/models
PYTHON ?= python3
# The Swift compiler's declarations of the C functions, input of include/kinema.h.
GENERATED_HEADER = .build/release/KinemaC.build/include/KinemaC-Swift.h
KINEMA_VERSION = $(shell sed -n 's/^\#define KINEMA_VERSION_\(MAJOR\|MINOR\|PATCH\) //p' include/kinema.h | paste -sd.)

all: build

deps:
	@bash tools/ensure-deps.sh

build: deps
	$(SWIFT_RELEASE)

# Every test suite.
test: deps
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build
	$(MAKE) test-capi

# The C library, libkinema.so, in .build/release.
lib: deps
	$(SWIFT_RELEASE) --product KinemaC
	ln -sf libKinemaC.so .build/release/libkinema.so

# Regenerates include/kinema.h (commit the result).
header: lib
	$(PYTHON) tools/make-header.py --generated $(GENERATED_HEADER)

# Fails when the committed include/kinema.h differs from a fresh generation.
header-check: lib
	$(PYTHON) tools/make-header.py --generated $(GENERATED_HEADER) --check

# make install PREFIX=/some/prefix: lib/libkinema.so (Swift runtime inside, debug info
# stripped), include/kinema.h, lib/pkgconfig/kinema.pc, and Kinema-Tiny in share/kinema/models.
install: header-check
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 .build/release/libKinemaC.so $(DESTDIR)$(LIBDIR)/libkinema.so
	strip --strip-debug $(DESTDIR)$(LIBDIR)/libkinema.so
	install -m 644 include/kinema.h $(DESTDIR)$(INCLUDEDIR)/kinema.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(KINEMA_VERSION)|g' pkgconfig/kinema.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kinema.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/kinema.pc
	if [ -f models/kinema-tiny/model_index.json ]; then \
	    rm -rf $(DESTDIR)$(MODELDIR)/kinema-tiny && install -d $(DESTDIR)$(MODELDIR) && \
	    cp -R models/kinema-tiny $(DESTDIR)$(MODELDIR)/kinema-tiny && \
	    chmod -R u+rwX,go+rX,go-w $(DESTDIR)$(MODELDIR)/kinema-tiny; \
	fi

# The C interface's tests: header, layout, hostile caller, the installed library and the
# example under valgrind (tests/c), then the Python binding (bindings/python/tests).
test-capi: test-c test-python

test-c: header-check
	bash tests/c/run.sh

test-python: lib
	@$(PYTHON) -c "import pytest" 2>/dev/null || { echo "error: the Python binding's tests need pytest for $(PYTHON) (pip install pytest)" >&2; exit 1; }
	KINEMA_LIBRARY=$(CURDIR)/.build/release/libkinema.so $(PYTHON) -m pytest -q bindings/python/tests

# The main job: generate a short video with the default model, Kinema-Tiny (models/kinema-tiny,
# found by the kinema program itself), at the size, frame rate, steps and guidance its
# kinema.json recommends: two shots, each from its own prompt, cut at exactly 3 seconds, the
# first with a beat at 2 seconds where the character's expression changes without a cut.
# `make demo DEMO_PROMPT="..."` generates 5 seconds from one prompt instead. Without
# Kinema-Tiny in the tree (a checkout that dropped it) it falls back to the tiny random-weight
# pipeline of the tests, whose output is noise.
DEMO_PROMPT ?=
DEMO_SHOT_1 ?= 3:A blue cartoon character smiles in a close-up.
DEMO_BEAT_1 ?= 2:A close-up of a blue cartoon character looking surprised.
DEMO_SHOT_2 ?= 2:A wide shot of a blue cartoon character jumping.
DEMO_FALLBACK = --model Tests/KinemaTests/Fixtures/tiny-pipeline --width 64 --height 64 --fps 8
DEMO_MODEL ?= $(if $(wildcard models/kinema-tiny/model_index.json),,$(DEMO_FALLBACK))
DEMO_INPUT = $(if $(DEMO_PROMPT),--prompt "$(DEMO_PROMPT)" --duration 5,--shot "$(DEMO_SHOT_1)" --beat "$(DEMO_BEAT_1)" --shot "$(DEMO_SHOT_2)")
demo: build
	@mkdir -p out
	.build/release/kinema generate $(DEMO_MODEL) $(DEMO_INPUT) --seed 1 --output out/demo.mp4
	@echo "demo video: out/demo.mp4"

# Benchmarks (not tests): each prints Kinema's numbers beside a reference run on the same
# machine. The model benchmarks need the reference virtualenv (tools/reference/setup-venv.sh,
# or PYTHON=...). bench-kernels needs nothing else.
bench: bench-kernels bench-tiny bench-dit bench-vae bench-umt5

bench-kernels: build
	.build/release/kinema-bench gemm
	.build/release/kinema-bench attention

# Kinema-Tiny end to end, a 5-second clip: the kinema program beside diffusers' WanPipeline.
bench-tiny: build
	$(PYTHON) tools/bench/tiny.py $(BENCH_ARGS)

bench-dit: build
	bash tools/bench/dit.sh

bench-vae: build
	bash tools/bench/vae.sh

bench-umt5: build
	bash tools/bench/umt5.sh

# Trains Kinema-Tiny from scratch into models/kinema-tiny (tools/train-tiny/recipe.sh; state in
# out/train-tiny and, for the GPU recipe's later sittings, out/train-tiny-continued,
# out/train-tiny-decoder, out/train-tiny-adversarial, out/train-tiny-contrast and
# out/train-tiny-contrast-gpu, which must start empty, and out/train-tiny-whole-vae, which the
# ninth sitting's script empties itself). Where torch sees a CUDA GPU it runs the stages that
# made the committed model (about 20 minutes on an H200, 55 minutes of VAE decoder on 2 CPU
# cores, about 9 minutes on an H100, 50 minutes of transformer on 2 CPU cores, about 9 minutes
# of transformer on an H100, then 8 minutes of the whole VAE and the transformer on an H100); on the CPU
# (TRAIN_DEVICE=cpu, or no GPU) the 4-hour 2-core recipe of the earlier, weaker model. PYTHON
# must be the virtualenv of tools/reference/setup-venv.sh:
# make train-tiny PYTHON=tools/reference/.venv/bin/python
TRAIN_THREADS ?= 2
TRAIN_DEVICE ?= auto
train-tiny:
	TRAIN_THREADS=$(TRAIN_THREADS) TRAIN_DEVICE=$(TRAIN_DEVICE) bash tools/train-tiny/recipe.sh $(PYTHON) out/train-tiny models/kinema-tiny

# Generates every held-out acting-world prompt with the Swift engine (the kinema program) and
# scores the clips with the judge; PYTHON needs torch (tools/reference/setup-venv.sh):
# make eval-tiny PYTHON=tools/reference/.venv/bin/python [EVAL_ARGS="--limit 10"]
# (EVAL_ARGS=--shots generates each clip shot by shot, one prompt per shot; EVAL_ARGS=--beats also
# gives each emotion change as a beat; EVAL_ARGS=--vae-ceiling scores the world's own clips passed
# through the VAE instead).
EVAL_ARGS ?=
eval-tiny: build
	$(PYTHON) tools/acting-world/eval_tiny.py $(EVAL_ARGS)

clean:
	rm -rf .build
