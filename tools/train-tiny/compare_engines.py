#!/usr/bin/env python3
"""Generates the same clip with diffusers and with Kinema from one initial noise and compares.

Run from the repository root (after `swift build -c release`) with the virtualenv of
tools/reference/setup-venv.sh:

    python tools/train-tiny/compare_engines.py --model models/kinema-tiny --prompt "A red figure jumps in a wide shot."

Prints the largest and mean absolute pixel difference (0-1 scale) between the two videos.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file
from safetensors.torch import save_file


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True)
    p.add_argument("--prompt", required=True)
    p.add_argument("--negative-prompt", default="")
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--frames", type=int, default=17)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--kinema", default=".build/release/kinema")
    args = p.parse_args(argv)

    from diffusers import WanPipeline
    pipe = WanPipeline.from_pretrained(args.model, dtype=torch.float32)
    vae = pipe.vae.config
    t, s = vae.scale_factor_temporal, vae.scale_factor_spatial
    if (args.frames - 1) % t:
        raise SystemExit(f"--frames {args.frames} must be {t}k+1 for this model")
    shape = (1, vae.z_dim, (args.frames - 1) // t + 1, args.size // s, args.size // s)
    latents = torch.randn(shape, generator=torch.Generator().manual_seed(args.seed))
    with torch.no_grad():
        ref = pipe(prompt=args.prompt, negative_prompt=args.negative_prompt, height=args.size, width=args.size,
                   num_frames=args.frames, num_inference_steps=args.steps, guidance_scale=args.guidance,
                   latents=latents.clone(), output_type="np").frames[0]
    with tempfile.TemporaryDirectory() as tmp:
        lat_path = Path(tmp) / "latents.safetensors"
        save_file({"latents": latents[0].contiguous()}, str(lat_path))
        out = Path(tmp) / "kinema.safetensors"
        cmd = [args.kinema, "generate", "--model", args.model, "--prompt", args.prompt,
               "--negative-prompt", args.negative_prompt, "--width", str(args.size), "--height", str(args.size),
               "--frames", str(args.frames), "--steps", str(args.steps), "--guidance", str(args.guidance),
               "--latents", str(lat_path), "--output", str(out)]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        video = load_file(str(out))["video"]
    diff = np.abs(video.astype(np.float64) - ref.astype(np.float64))
    print(json.dumps({"shape": list(video.shape), "max_abs_diff": float(diff.max()),
                      "mean_abs_diff": float(diff.mean()), "diffusers_mean": float(ref.mean()),
                      "kinema_mean": float(video.mean())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
