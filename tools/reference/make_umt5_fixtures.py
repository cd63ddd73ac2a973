#!/usr/bin/env python3
"""Reference outputs for Kinema's UMT5 text encoder, computed with transformers' UMT5EncoderModel.

Run with the virtualenv from tools/reference/setup-venv.sh:
    tools/reference/.venv/bin/python tools/reference/make_umt5_fixtures.py

Writes, under Tests/KinemaTests/Fixtures/umt5/:
  <name>/text_encoder/   config.json + safetensors exactly as `save_pretrained` writes them
                         (the layout of a diffusers `text_encoder/` folder)
  <name>/expected.safetensors
      case<i>.ids         the token ids (float32; exact below 2^24)
      case<i>.hidden      last_hidden_state of the real tokens only, [L, d_model]
      case<i>.padded_ids  the same ids right-padded with <pad> (0) to a longer length
      case<i>.padded_hidden  last_hidden_state of the padded run with its attention mask,
                          [padded length, d_model]; rows 0..L-1 must equal `hidden`
  buckets.safetensors     transformers' `_relative_position_bucket` for relative positions
                          -700...700 under several (num_buckets, max_distance) settings,
                          including ones where float64 arithmetic would pick another bucket

Configurations:
  tiny_f32   d_model 32, d_kv 8, 4 heads, d_ff 64, 2 layers, 32 buckets / max distance 128,
             stored in float32; one prompt is 150 tokens long so that distances beyond the
             exact range and beyond max_distance (the clamped last bucket) occur.
  tiny_bf16  d_model 48, d_kv 12, 4 heads, d_ff 80, 3 layers, 20 buckets / max distance 50,
             stored in bfloat16 and sharded (index + 2 files). Its expected outputs come from
             torch in float32 on the bf16-rounded weights, i.e. what an exact float32
             computation on the stored weights gives.
All weights are drawn from seeded generators, so the files are reproducible.
"""
import json
import math
import os

import torch
from safetensors.torch import save_file
from transformers import UMT5Config, UMT5EncoderModel

HERE = os.path.dirname(os.path.abspath(__file__))
DEST = os.path.join(HERE, "..", "..", "Tests", "KinemaTests", "Fixtures", "umt5")
GENERATOR = "tools/reference/make_umt5_fixtures.py"
# One thread, so that CPU matmuls sum in the same order on every run (the files are
# byte-for-byte reproducible; metadata holds a single key because the writer does not keep
# the order of several).
torch.set_num_threads(1)


def make_model(seed, **shape):
    config = UMT5Config(
        vocab_size=300,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        layer_norm_epsilon=1e-6,
        dropout_rate=0.0,
        **shape,
    )
    config._attn_implementation = "eager"
    torch.manual_seed(seed)
    model = UMT5EncoderModel(config).eval()
    # Redraw every weight with magnitudes that make each part of the layer matter: norm gains
    # away from 1, a relative-position table large enough to shape the attention, and
    # projections at 1/sqrt(fan_in) (logits are not scaled by 1/sqrt(d_kv) in T5).
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("layer_norm.weight"):
                p.copy_(1 + 0.3 * torch.randn(p.shape, generator=g))
            elif "relative_attention_bias" in name:
                p.copy_(1.5 * torch.randn(p.shape, generator=g))
            elif name == "shared.weight":
                p.copy_(torch.randn(p.shape, generator=g))
            else:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))
    return model


def sequences(seed, lengths, vocab):
    """Random ids in [2, vocab) ending with </s> (1); one id is vocab-1 to touch the last row."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for n in lengths:
        ids = torch.randint(2, vocab, (n,), generator=g)
        if n >= 3:
            ids[1] = vocab - 1
        ids[-1] = 1
        out.append(ids)
    return out


def run(model, ids, padded_length):
    with torch.no_grad():
        hidden = model(input_ids=ids[None]).last_hidden_state[0]
        padded = torch.zeros(padded_length, dtype=torch.long)
        padded[: len(ids)] = ids
        mask = torch.zeros(padded_length, dtype=torch.long)
        mask[: len(ids)] = 1
        padded_hidden = model(input_ids=padded[None], attention_mask=mask[None]).last_hidden_state[0]
    # The property the Swift encoder relies on: padding with masked keys changes nothing.
    diff = (padded_hidden[: len(ids)] - hidden).abs().max().item()
    assert diff <= 1e-5 * max(1.0, hidden.abs().max().item()), f"padded rows differ by {diff}"
    return hidden, padded, padded_hidden


def write_case_file(name, model, seqs, pad_to):
    os.makedirs(os.path.join(DEST, name), exist_ok=True)
    tensors = {}
    for i, ids in enumerate(seqs):
        hidden, padded, padded_hidden = run(model, ids, pad_to(len(ids)))
        tensors[f"case{i}.ids"] = ids.to(torch.float32)
        tensors[f"case{i}.hidden"] = hidden.contiguous()
        tensors[f"case{i}.padded_ids"] = padded.to(torch.float32)
        tensors[f"case{i}.padded_hidden"] = padded_hidden.contiguous()
    save_file(tensors, os.path.join(DEST, name, "expected.safetensors"),
              metadata={"generator": f"{GENERATOR} (torch {torch.__version__})"})


def tiny_f32():
    model = make_model(
        100, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
        relative_attention_num_buckets=32, relative_attention_max_distance=128)
    model.save_pretrained(os.path.join(DEST, "tiny_f32", "text_encoder"))
    seqs = sequences(101, [7, 150, 1], model.config.vocab_size)
    write_case_file("tiny_f32", model, seqs, lambda n: n + 13)


def tiny_bf16():
    model = make_model(
        200, d_model=48, d_kv=12, d_ff=80, num_layers=3, num_heads=4,
        relative_attention_num_buckets=20, relative_attention_max_distance=50)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(torch.bfloat16).to(torch.float32))
    seqs = sequences(201, [12, 70, 2], model.config.vocab_size)
    write_case_file("tiny_bf16", model, seqs, lambda n: n + 9)
    # Saved after the reference run: the stored bf16 values equal the rounded float32 weights.
    model.to(torch.bfloat16).save_pretrained(
        os.path.join(DEST, "tiny_bf16", "text_encoder"), max_shard_size="100KB")


def buckets():
    from transformers.models.umt5.modeling_umt5 import UMT5Attention

    rel = torch.arange(-700, 701)
    tensors = {"relative_position": rel.to(torch.float32)}
    # The first four are common settings; in the last four, computing the logarithm in float64
    # instead of float32 gives a different bucket at some distance (e.g. 18 buckets / 128 at
    # distance 64), so they pin down the float32 arithmetic.
    settings = [(32, 128), (20, 50), (64, 256), (16, 20), (18, 128), (20, 160), (38, 16), (72, 32)]
    for num_buckets, max_distance in settings:
        config = UMT5Config(relative_attention_num_buckets=num_buckets,
                            relative_attention_max_distance=max_distance, is_decoder=False)
        attention = UMT5Attention(config, has_relative_attention_bias=True)
        tensors[f"bucket.{num_buckets}.{max_distance}"] = attention._relative_position_bucket(rel).to(torch.float32)
    save_file(tensors, os.path.join(DEST, "buckets.safetensors"), metadata={"generator": f"{GENERATOR} (torch {torch.__version__})"})


def main():
    os.makedirs(DEST, exist_ok=True)
    tiny_f32()
    tiny_bf16()
    buckets()
    for root, _, files in sorted(os.walk(DEST)):
        for f in sorted(files):
            path = os.path.join(root, f)
            print(f"{os.path.relpath(path, DEST):55s} {os.path.getsize(path):8d} bytes")


if __name__ == "__main__":
    main()
