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
import json
import os

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline
from safetensors.torch import save_file

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
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    pipe = WanPipeline.from_pretrained(MODEL, torch_dtype=torch.float32)
    unipc = pipe.scheduler
    shift = unipc.config.flow_shift
    euler = FlowMatchEulerDiscreteScheduler(shift=shift)
    os.makedirs(OUT, exist_ok=True)
    manifest = []
    for i, case in enumerate(CASES):
        pipe.scheduler = unipc if case["sampler"] == "unipc" else euler
        z = pipe.vae.config.z_dim
        tf = pipe.vae.config.scale_factor_temporal
        sf = pipe.vae.config.scale_factor_spatial
        t = (case["frames"] - 1) // tf + 1
        g = torch.Generator().manual_seed(200 + i)
        latents = torch.randn(1, z, t, SIZE // sf, SIZE // sf, generator=g)
        video = pipe(prompt=case["prompt"], negative_prompt="", height=SIZE, width=SIZE,
                     num_frames=case["frames"], num_inference_steps=case["steps"],
                     guidance_scale=case["guidance"], latents=latents.clone(),
                     output_type="np").frames[0]
        frames = torch.from_numpy(video).to(torch.float32).contiguous()
        save_file({"latents": latents.contiguous(), "video": frames},
                  os.path.join(OUT, case["name"] + ".safetensors"))
        manifest.append(dict(case, negative_prompt="", height=SIZE, width=SIZE, shift=shift,
                             video_shape=list(frames.shape)))
        print(case["name"], tuple(frames.shape), float(frames.min()), float(frames.max()))
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
