#!/usr/bin/env python3
"""Reference videos from diffusers' WanPipeline on Kinema-Tiny (models/kinema-tiny).

Run with the virtualenv made by tools/reference/setup-venv.sh, whenever the model changes:

    tools/reference/.venv/bin/python tools/reference/make_kinema_tiny_fixtures.py

For each case it fixes the initial latents, runs `WanPipeline.__call__` with `output_type="np"`
and stores the latents and the frames [F, H, W, 3] in
Tests/KinemaTests/Fixtures/kinema-tiny/<case>.safetensors, plus cases.json with the settings.
KinemaTinyTests runs the Swift pipeline on the same latents and compares the frames: the
trained model is a real Wan2.1 pipeline, so the two engines must agree on it as they do on
random weights.
"""
import os

from make_pipeline_fixtures import write_fixtures

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
MODEL = os.path.join(ROOT, "models", "kinema-tiny")
OUT = os.path.join(ROOT, "Tests", "KinemaTests", "Fixtures", "kinema-tiny")

CASES = [
    dict(name="unipc-cfg5-f17", sampler="unipc", guidance=5.0, frames=17, steps=10,
         prompt="A blue character smiles in a close-up, then looks sad at 1 second."),
    dict(name="euler-cfg1-f9", sampler="euler", guidance=1.0, frames=9, steps=4,
         prompt="Long shot: an orange figure moves right while smiling."),
]
SIZE = 64


def main():
    cases = [dict(c, negative_prompt="", height=SIZE, width=SIZE) for c in CASES]
    write_fixtures(MODEL, OUT, cases, seed_base=200, threads=max(1, os.cpu_count() or 1))


if __name__ == "__main__":
    main()
