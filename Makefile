# Kinema — the two commands are `make demo` and `make test`.
SWIFT ?= swift
SWIFT_RELEASE = $(SWIFT) build -c release

.PHONY: all deps build build-debug test demo bench bench-kernels bench-dit bench-vae bench-umt5 clean lib header header-check install test-capi test-c test-python

# Where `make install` puts libkinema.so, kinema.h and kinema.pc.
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
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
# stripped), include/kinema.h, lib/pkgconfig/kinema.pc.
install: header-check
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)
	install -m 755 .build/release/libKinemaC.so $(DESTDIR)$(LIBDIR)/libkinema.so
	strip --strip-debug $(DESTDIR)$(LIBDIR)/libkinema.so
	install -m 644 include/kinema.h $(DESTDIR)$(INCLUDEDIR)/kinema.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	    -e 's|@VERSION@|$(KINEMA_VERSION)|g' pkgconfig/kinema.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/kinema.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/kinema.pc

# The C interface's tests: header, layout, hostile caller, the installed library and the
# example under valgrind (tests/c), then the Python binding (bindings/python/tests).
test-capi: test-c test-python

test-c: header-check
	bash tests/c/run.sh

test-python: lib
	@$(PYTHON) -c "import pytest" 2>/dev/null || { echo "error: the Python binding's tests need pytest for $(PYTHON) (pip install pytest)" >&2; exit 1; }
	KINEMA_LIBRARY=$(CURDIR)/.build/release/libkinema.so $(PYTHON) -m pytest -q bindings/python/tests

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

# Benchmarks (not tests): each prints Kinema's numbers beside a reference run on the same
# machine. The model benchmarks need the reference virtualenv (tools/reference/setup-venv.sh,
# or PYTHON=...). bench-kernels needs nothing else.
bench: bench-kernels bench-dit bench-vae bench-umt5

bench-kernels: build
	.build/release/kinema-bench gemm
	.build/release/kinema-bench attention

bench-dit: build
	bash tools/bench/dit.sh

bench-vae: build
	bash tools/bench/vae.sh

bench-umt5: build
	bash tools/bench/umt5.sh

clean:
	rm -rf .build
