"""Fixtures for the binding's tests.

The library comes from KINEMA_TEST_LIBRARY (set by `make test-python` to
libkinema-testengine.so: libkinema plus a small deterministic engine that needs no model
weights) or, failing that, from the binding's usual search (KINEMA_LIBRARY, pkg-config, the
build folder). Model directories for that engine are written per session.
"""
import json
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

if os.environ.get("KINEMA_TEST_LIBRARY"):
    os.environ["KINEMA_LIBRARY"] = os.environ["KINEMA_TEST_LIBRARY"]

import kinema  # noqa: E402


def _model(root, name, **config):
    directory = root / name
    directory.mkdir()
    (directory / "kinema-test-engine.json").write_text(json.dumps(config))
    return str(directory)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("models")
    return {
        # A few milliseconds per generation.
        "fast": _model(root, "fast", block_seconds=0.0005),
        # At least 10 steps x 4 blocks x 10 ms = 0.4 s of denoising.
        "slow": _model(root, "slow", steps=10, block_seconds=0.01),
        # 20 steps x 4 blocks x 1 ms: for many quick cancels.
        "medium": _model(root, "medium", steps=20, block_seconds=0.001),
    }


@pytest.fixture(scope="session")
def model(model_dirs):
    with kinema.Model(model_dirs["fast"]) as m:
        yield m


@pytest.fixture(scope="session")
def slow_model(model_dirs):
    with kinema.Model(model_dirs["slow"]) as m:
        yield m


@pytest.fixture(scope="session")
def medium_model(model_dirs):
    with kinema.Model(model_dirs["medium"]) as m:
        yield m
