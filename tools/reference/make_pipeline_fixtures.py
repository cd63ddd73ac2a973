#!/usr/bin/env python3
"""End-to-end reference videos from diffusers' WanPipeline on the tiny random pipeline.

Run with the virtualenv made by tools/reference/setup-venv.sh, after make_tiny_pipeline.py:

    tools/reference/.venv/bin/python tools/reference/make_pipeline_fixtures.py

For each case it fixes the initial latents, runs `WanPipeline.__call__` with `output_type="np"`
and stores the latents and the frames [F, H, W, 3] in
Tests/KinemaTests/Fixtures/pipeline/<case>.safetensors. Cases cover both samplers (UniPC as
saved, and FlowMatchEulerDiscreteScheduler with the same shift), guidance 1 (no CFG) and 5,
and two frame counts.
"""
import json
import os

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, WanPipeline
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "Tests", "KinemaTests", "Fixtures")
MODEL = os.path.join(FIXTURES, "tiny-pipeline")
OUT = os.path.join(FIXTURES, "pipeline")

PROMPT = "A small dog runs through a field of yellow flowers."
NEGATIVE = "static, blurred details, worst quality"
HEIGHT, WIDTH, STEPS = 32, 48, 4

CASES = [dict(c, prompt=PROMPT, negative_prompt=NEGATIVE, height=HEIGHT, width=WIDTH, steps=STEPS) for c in [
    dict(name="unipc-cfg5-f5", sampler="unipc", guidance=5.0, frames=5),
    dict(name="unipc-cfg1-f3", sampler="unipc", guidance=1.0, frames=3),
    dict(name="euler-cfg5-f3", sampler="euler", guidance=5.0, frames=3),
    dict(name="euler-cfg1-f5", sampler="euler", guidance=1.0, frames=5),
]]


def write_fixtures(model: str, out: str, cases: list, seed_base: int, threads: int | None = None) -> None:
    """Runs WanPipeline from `model` on each case (keys: name, sampler "unipc"/"euler", guidance,
    frames, prompt, negative_prompt, height, width, steps) from latents drawn with seed
    seed_base + index; writes <out>/<name>.safetensors (latents, video) and <out>/cases.json."""
    torch.manual_seed(0)
    if threads:
        torch.set_num_threads(threads)
    pipe = WanPipeline.from_pretrained(model, torch_dtype=torch.float32)
    pipe.text_encoder.to(torch.float32)
    unipc = pipe.scheduler
    shift = unipc.config.flow_shift
    euler = FlowMatchEulerDiscreteScheduler(shift=shift)
    os.makedirs(out, exist_ok=True)
    z = pipe.vae.config.z_dim
    tf = pipe.vae.config.scale_factor_temporal
    sf = pipe.vae.config.scale_factor_spatial
    manifest = []
    for i, case in enumerate(cases):
        pipe.scheduler = unipc if case["sampler"] == "unipc" else euler
        t = (case["frames"] - 1) // tf + 1
        g = torch.Generator().manual_seed(seed_base + i)
        latents = torch.randn(1, z, t, case["height"] // sf, case["width"] // sf, generator=g)
        video = pipe(prompt=case["prompt"], negative_prompt=case["negative_prompt"], height=case["height"],
                     width=case["width"], num_frames=case["frames"], num_inference_steps=case["steps"],
                     guidance_scale=case["guidance"], latents=latents.clone(),
                     output_type="np").frames[0]
        frames = torch.from_numpy(video).to(torch.float32).contiguous()
        save_file({"latents": latents.contiguous(), "video": frames},
                  os.path.join(out, case["name"] + ".safetensors"))
        manifest.append(dict(case, shift=shift, video_shape=list(frames.shape)))
        print(case["name"], tuple(frames.shape), float(frames.min()), float(frames.max()))
    with open(os.path.join(out, "cases.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main():
    write_fixtures(MODEL, OUT, CASES, seed_base=100)


if __name__ == "__main__":
    main()
