#!/usr/bin/env python3
"""Reference values for Kinema's per-frame text contexts (beats), from diffusers in float32.

Run with the virtualenv from tools/reference/setup-venv.sh, from the repository root, after
make_dit_fixtures.py:
    tools/reference/.venv/bin/python tools/reference/make_beat_fixtures.py

diffusers' Wan transformer has one text context for every token. A beat gives the tokens of a
span of latent frames their own context in cross-attention, and changes nothing else. The
reference does exactly that to diffusers' own blocks: the contexts go in concatenated along the
text axis (the text embedder works row by row), and each block's cross-attention (`attn2`) runs
once per span of frames, on that span's tokens and its own context's rows.

Writes Tests/KinemaTests/Fixtures/dit/<config>/beats.safetensors for the tiny12 and tiny16
transformers of make_dit_fixtures.py: `latent`, `timestep`, `contexts` [spans, text_len,
text_dim], `starts` (first latent frame of each span, as float32) and `output`.
"""
import os

import torch
from diffusers import WanTransformer3DModel
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "KinemaTests", "Fixtures", "dit")

CASES = [
    dict(name="tiny12", latent=(3, 4, 6), starts=[0, 1, 2], text_len=16, real_text=[7, 4, 9], timestep=937.0, seed=21),
    dict(name="tiny16", latent=(5, 6, 4), starts=[0, 3], text_len=12, real_text=[5, 8], timestep=412.5, seed=22),
]


def split_cross_attention(model, starts, frames, tokens_per_frame, text_len):
    """Makes every block's attn2 attend span k's tokens to context k's rows only."""
    bounds = [s * tokens_per_frame for s in starts] + [frames * tokens_per_frame]
    originals = []
    for block in model.blocks:
        attn2 = block.attn2
        original = attn2.forward
        originals.append((attn2, original))

        def forward(hidden_states, encoder_hidden_states=None, *rest, _original=original, **kwargs):
            parts = []
            for k in range(len(starts)):
                rows = hidden_states[:, bounds[k]:bounds[k + 1]]
                context = encoder_hidden_states[:, k * text_len:(k + 1) * text_len]
                parts.append(_original(rows, context, *rest, **kwargs))
            return torch.cat(parts, dim=1)

        attn2.forward = forward
    return originals


def make(case):
    gen = torch.Generator().manual_seed(case["seed"])
    directory = os.path.join(ROOT, case["name"])
    model = WanTransformer3DModel.from_pretrained(os.path.join(directory, "transformer"), torch_dtype=torch.float32).eval()
    cfg = model.config
    f, h, w = case["latent"]
    pt, ph, pw = cfg.patch_size
    latent = torch.randn(1, cfg.in_channels, f, h, w, generator=gen)
    contexts = torch.zeros(len(case["starts"]), case["text_len"], cfg.text_dim)
    for k, real in enumerate(case["real_text"]):
        contexts[k, :real] = torch.randn(real, cfg.text_dim, generator=gen)
    split_cross_attention(model, case["starts"], f // pt, (h // ph) * (w // pw), case["text_len"])
    with torch.no_grad():
        out = model(hidden_states=latent, timestep=torch.tensor([case["timestep"]]),
                    encoder_hidden_states=contexts.reshape(1, -1, cfg.text_dim), return_dict=False)[0]
    save_file({
        "latent": latent[0].contiguous(),
        "timestep": torch.tensor([case["timestep"]]),
        "contexts": contexts.contiguous(),
        "starts": torch.tensor(case["starts"], dtype=torch.float32),
        "output": out[0].contiguous(),
    }, os.path.join(directory, "beats.safetensors"))
    print(f"{case['name']}: spans from latent frames {case['starts']}, output {tuple(out.shape[1:])}")


def main():
    for case in CASES:
        make(case)


if __name__ == "__main__":
    main()
