"""Fixtures for the binding's tests: the library (KINEMA_LIBRARY, else the binding's own search)
and the tiny random-weight Wan pipeline of the Swift tests, which generates small videos in
milliseconds."""
import json
import os
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent))

import kinema  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[3]
TINY_MODEL = ROOT / "Tests" / "KinemaTests" / "Fixtures" / "tiny-pipeline"

#: A generation the tiny model finishes in a few milliseconds.
QUICK = dict(width=32, height=32, frames=5, steps=2)
#: One long enough to be cancelled at leisure (about half a second on a 2-core machine).
SLOW = dict(width=64, height=64, frames=9, steps=20)


@pytest.fixture(scope="session")
def model_dir():
    assert (TINY_MODEL / "model_index.json").is_file(), f"missing fixture {TINY_MODEL}"
    return str(TINY_MODEL)


@pytest.fixture(scope="session")
def vae_config():
    return json.loads((TINY_MODEL / "vae" / "config.json").read_text())


@pytest.fixture(scope="session")
def model(model_dir):
    with kinema.Model(model_dir) as m:
        yield m
