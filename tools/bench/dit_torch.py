#!/usr/bin/env python3
"""diffusers' WanTransformer3DModel on the CPU in float32 at the Wan2.1-1.3B sizes, random weights:
latent 16x5x32x32 (1,280 tokens), 512 text rows of which the first --text-rows are non-zero.
The same shapes and FLOP yardstick as `kinema-bench dit`.

Run with the virtualenv from tools/reference/setup-venv.sh:
    tools/reference/.venv/bin/python tools/bench/dit_torch.py [--layers N] [--runs R] [--threads T]
"""
import argparse
import resource
import statistics
import time

import torch
from diffusers import WanTransformer3DModel


def forward_flops(layers, n, l, dim=1536, ffn=8960, text_dim=4096, freq=256, patch=16 * 4, out=16 * 4):
    f = 2 * n * patch * dim + 2 * n * dim * out
    f += 2 * (freq * dim + dim * dim + dim * 6 * dim)
    f += 2 * l * (text_dim * dim + dim * dim)
    block = (2 * n * dim * 3 * dim + 4 * n * n * dim + 2 * n * dim * dim
             + 2 * n * dim * dim + 2 * l * dim * 2 * dim + 4 * n * l * dim + 2 * n * dim * dim
             + 4 * n * dim * ffn)
    return f + layers * block


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layers", type=int, default=30)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--text-rows", type=int, default=64)
    a = p.parse_args()
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    t0 = time.perf_counter()
    model = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=12, attention_head_dim=128, in_channels=16, out_channels=16,
        text_dim=4096, freq_dim=256, ffn_dim=8960, num_layers=a.layers, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6).eval()
    load = time.perf_counter() - t0
    weights = sum(p.numel() for p in model.parameters()) * 4

    frames, height, width, text_len = 5, 32, 32, 512
    tokens = frames * (height // 2) * (width // 2)
    latent = torch.randn(1, 16, frames, height, width)
    context = torch.zeros(1, text_len, 4096)
    context[:, : a.text_rows] = torch.randn(1, a.text_rows, 4096)
    t = torch.tensor([999])

    times = []
    with torch.inference_mode():
        model(hidden_states=latent, timestep=t, encoder_hidden_states=context, return_dict=False)
        for _ in range(max(a.runs, 1)):
            s = time.perf_counter()
            out = model(hidden_states=latent, timestep=t, encoder_hidden_states=context, return_dict=False)[0]
            times.append(time.perf_counter() - s)
    seconds = statistics.median(times)
    flops = forward_flops(a.layers, tokens, text_len)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"Wan2.1-1.3B DiT forward, PyTorch {torch.__version__} CPU float32: layers {a.layers}, tokens {tokens}, "
          f"text {text_len} rows ({a.text_rows} non-zero), threads {torch.get_num_threads()}")
    print(f"load (random weights)      {load:8.2f} s")
    print(f"forward, median of {len(times)}      {seconds:8.3f} s   (all: {', '.join(f'{x:.3f}' for x in times)})")
    print(f"achieved                   {flops / seconds / 1e9:8.1f} GFLOP/s ({flops / 1e9:.1f} GFLOP per forward)")
    print(f"weights                    {weights / 1e9:8.2f} GB")
    print(f"peak RSS                   {rss / 1e9:8.2f} GB")
    print(f"RESULT seconds={seconds:.4f} gflops={flops / seconds / 1e9:.2f} peak_rss_gb={rss / 1e9:.3f} "
          f"weights_gb={weights / 1e9:.3f}")
    assert torch.isfinite(out).all()


if __name__ == "__main__":
    main()
