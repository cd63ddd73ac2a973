#!/usr/bin/env python3
"""Writes the safetensors reader fixtures (Tests/KinemaTests/Fixtures/safetensors/).

Run with the virtualenv made by tools/reference/setup-venv.sh:

    tools/reference/.venv/bin/python tools/reference/make_safetensors_fixtures.py

Files are written by the `safetensors` library itself (and `huggingface_hub` for the sharded
checkpoint), so the Swift reader is checked against the reference writer. `expected.json` holds,
for every tensor, its dtype, shape and the IEEE bit patterns of torch's own float32 widening, so
the test compares bits without going through the reader under test.
"""
import json
import math
import os
import shutil
import sys

import torch
from huggingface_hub import save_torch_state_dict
from safetensors.torch import save_file

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                   "Tests", "KinemaTests", "Fixtures", "safetensors")

# Values that exercise every branch of a 16-bit → 32-bit widening: signed zeros, the smallest
# subnormals, the largest finite values, infinities and a quiet NaN.
SPECIAL_F16 = [0.0, -0.0, 1.0, -2.5, 2.0 ** -24, -(2.0 ** -24), 2.0 ** -14 - 2.0 ** -24,
               2.0 ** -14, 65504.0, -65504.0, math.inf, -math.inf, math.nan, 0.333251953125]
SPECIAL_BF16 = [0.0, -0.0, 1.0, -2.5, 2.0 ** -133, -(2.0 ** -126), 3.3895313892515355e38,
                -3.3895313892515355e38, math.inf, -math.inf, math.nan, 0.333984375, 1e-20, 7.0]


def bits(t: torch.Tensor) -> list:
    """IEEE bit patterns of the float32 widening, flattened."""
    return t.float().contiguous().view(torch.int32).flatten().tolist()


def entry(t: torch.Tensor) -> dict:
    dtype = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[t.dtype]
    return {"dtype": dtype, "shape": list(t.shape), "bits": [b & 0xFFFFFFFF for b in bits(t)]}


def main() -> None:
    torch.manual_seed(20240611)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    expected = {}

    def write(name: str, tensors: dict, metadata=None) -> None:
        save_file(tensors, os.path.join(OUT, name), metadata=metadata)
        expected[name] = {k: entry(v) for k, v in tensors.items()}

    write("f32.safetensors", {
        "matrix": torch.randn(5, 7),
        "special": torch.tensor(SPECIAL_F16 + [1e-40, 3.4e38], dtype=torch.float32),
        "scalar": torch.tensor(-1.25),
        "empty": torch.zeros(0, 3),
        "conv.weight": torch.randn(4, 3, 1, 2, 2),
    }, metadata={"format": "pt", "note": "kinema fixture"})

    write("f16.safetensors", {
        "matrix": torch.randn(6, 5).half(),
        "special": torch.tensor(SPECIAL_F16, dtype=torch.float16),
        "every_exponent": torch.tensor([2.0 ** e for e in range(-24, 16)], dtype=torch.float16),
    })

    write("bf16.safetensors", {
        "matrix": torch.randn(64, 33).bfloat16(),
        "special": torch.tensor(SPECIAL_BF16, dtype=torch.bfloat16),
        "bias": torch.randn(33).bfloat16(),
    })

    write("mixed.safetensors", {
        "a.f32": torch.randn(3, 2),
        "b.f16": torch.randn(2, 3).half(),
        "c.bf16": torch.randn(4).bfloat16(),
    })

    # A two-shard checkpoint with the index layout transformers and diffusers use.
    shard_dir = os.path.join(OUT, "sharded")
    os.makedirs(shard_dir)
    state = {
        "layers.0.weight": torch.randn(16, 16).bfloat16(),
        "layers.0.bias": torch.randn(16).bfloat16(),
        "layers.1.weight": torch.randn(16, 16).bfloat16(),
        "layers.1.bias": torch.randn(16).bfloat16(),
        "norm.weight": torch.randn(16).bfloat16(),
    }
    save_torch_state_dict(state, shard_dir, filename_pattern="model{suffix}.safetensors",
                          max_shard_size=600)
    shards = sorted(f for f in os.listdir(shard_dir) if f.endswith(".safetensors"))
    if len(shards) != 2 or not os.path.exists(os.path.join(shard_dir, "model.safetensors.index.json")):
        sys.exit(f"expected 2 shards and an index, got {shards}")
    expected["sharded"] = {k: entry(v) for k, v in state.items()}

    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(r, n)) for r, _, fs in os.walk(OUT) for n in fs)
    print(f"wrote {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
