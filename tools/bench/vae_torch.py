#!/usr/bin/env python3
"""Wan2.1 VAE decode with diffusers' AutoencoderKLWan on the CPU in float32, random weights
(the reference constructor's default configuration and initialisation): the same case as
`kinema-bench vae`, for comparison.

Run with the virtualenv from tools/reference/setup-venv.sh:
    tools/reference/.venv/bin/python tools/bench/vae_torch.py [--frames 21] [--height 480] [--width 832]
"""
import argparse
import os
import resource
import time

import torch
from diffusers import AutoencoderKLWan


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--frames", type=int, default=21, help="latent frames (21 -> 81 video frames)")
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=832)
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    a, _ = p.parse_known_args()  # kinema-only options (--budget) are ignored
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    vae = AutoencoderKLWan().eval()
    vae.encoder = None  # only the decoder runs; keep its memory out of the peak
    latent = torch.randn(1, 16, a.frames, a.height // 8, a.width // 8)
    frames = 1 + 4 * (a.frames - 1)
    print(f"Wan2.1 VAE decode (random weights), {a.frames} latent frames -> {frames} frames of "
          f"{a.width}x{a.height}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    t0, c0 = time.perf_counter(), time.process_time()
    with torch.no_grad():
        video = vae.decode(latent).sample
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert video.shape[2] == frames
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"torch: {seconds:.2f} s total, {seconds / frames:.3f} s per output frame, cpu {cpu:.1f} s, "
          f"peak resident {peak / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
