#!/usr/bin/env python3
"""Reference values for image-to-video (an image as the clip's first frame), from diffusers.

Run with the virtualenv from tools/reference/setup-venv.sh, from the repository root, after
make_dit_fixtures.py and make_tiny_pipeline.py:

    tools/reference/.venv/bin/python tools/reference/make_image_fixtures.py

diffusers' `WanImageToVideoPipeline` with `expand_timesteps=True` (Wan2.2's image-to-video,
which needs no image encoder) encodes the image as the first latent frame, gives the
transformer that frame clean at every step with a timestep of 0 for its tokens (a per-token
timestep), and puts it back in place of the sampled first frame at the end. Writes:

- Tests/KinemaTests/Fixtures/dit/<config>/clean-frames.safetensors for the tiny12 and tiny16
  transformers: `latent`, `timestep`, `context`, `clean_frames` (leading latent frames at
  timestep 0, as float32) and `output` of the transformer called with that per-token timestep;
- Tests/KinemaTests/Fixtures/pipeline/image-<case>.safetensors (`image` [H, W, 3] as 0-255
  values, `latents`, `video` [F, H, W, 3]) and image-cases.json, on the tiny random pipeline;
- Tests/KinemaTests/Fixtures/kinema-tiny/image-<case>.safetensors and image-cases.json, on
  Kinema-Tiny, with a frame rendered by the acting world as the image.

The prompts are encoded with WanPipeline.encode_prompt and passed as embeddings (the
image-to-video pipeline's own prompt cleaning needs the optional ftfy package).
"""
import json
import os
import sys

import numpy as np
import torch
from diffusers import FlowMatchEulerDiscreteScheduler, WanImageToVideoPipeline, WanPipeline, WanTransformer3DModel
from PIL import Image
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(HERE, "..", "..")
FIXTURES = os.path.join(ROOT, "Tests", "KinemaTests", "Fixtures")

DIT_CASES = [
    dict(name="tiny12", latent=(3, 4, 6), clean=1, text_len=16, real_text=9, timestep=937.0, seed=31),
    dict(name="tiny16", latent=(5, 6, 4), clean=2, text_len=12, real_text=5, timestep=412.5, seed=32),
]

TINY_PROMPT = "A small dog runs through a field of yellow flowers."
TINY_NEGATIVE = "static, blurred details, worst quality"
PIPELINE_CASES = [dict(c, prompt=TINY_PROMPT, negative_prompt=TINY_NEGATIVE, height=32, width=48, steps=4) for c in [
    dict(name="image-unipc-cfg5-f9", sampler="unipc", guidance=5.0, frames=9),
    dict(name="image-euler-cfg1-f5", sampler="euler", guidance=1.0, frames=5),
]]
KINEMA_TINY_CASES = [
    dict(name="image-unipc-cfg2.5-f9", sampler="unipc", guidance=2.5, frames=9, steps=6, height=64, width=64,
         prompt="A close-up of a red character standing still, looking happy.", negative_prompt=""),
]


def make_dit(case):
    gen = torch.Generator().manual_seed(case["seed"])
    directory = os.path.join(FIXTURES, "dit", case["name"])
    model = WanTransformer3DModel.from_pretrained(os.path.join(directory, "transformer"), torch_dtype=torch.float32).eval()
    cfg = model.config
    f, h, w = case["latent"]
    pt, ph, pw = cfg.patch_size
    latent = torch.randn(1, cfg.in_channels, f, h, w, generator=gen)
    context = torch.zeros(case["text_len"], cfg.text_dim)
    context[:case["real_text"]] = torch.randn(case["real_text"], cfg.text_dim, generator=gen)
    per_frame = (h // ph) * (w // pw)
    timestep = torch.full((f // pt, per_frame), case["timestep"])
    timestep[: case["clean"] // pt] = 0
    with torch.no_grad():
        out = model(hidden_states=latent, timestep=timestep.flatten()[None], encoder_hidden_states=context[None],
                    return_dict=False)[0]
    save_file({
        "latent": latent[0].contiguous(),
        "timestep": torch.tensor([case["timestep"]]),
        "context": context.contiguous(),
        "clean_frames": torch.tensor([float(case["clean"])]),
        "output": out[0].contiguous(),
    }, os.path.join(directory, "clean-frames.safetensors"))
    print(f"dit/{case['name']}: {case['clean']} clean latent frames, output {tuple(out.shape[1:])}")


def image_pipeline(model: str):
    base = WanPipeline.from_pretrained(model, torch_dtype=torch.float32)
    base.text_encoder.to(torch.float32)
    pipe = WanImageToVideoPipeline(tokenizer=base.tokenizer, text_encoder=base.text_encoder, vae=base.vae,
                                   scheduler=base.scheduler, transformer=base.transformer, image_encoder=None,
                                   image_processor=None, expand_timesteps=True)
    return base, pipe


def write_pipeline_cases(model: str, out: str, cases: list, images: list, seed_base: int) -> None:
    """Runs the image-to-video pipeline of `model` on each case with images[i] (uint8 [H, W, 3])
    and latents drawn with seed seed_base + i; writes <out>/<name>.safetensors and image-cases.json."""
    base, pipe = image_pipeline(model)
    unipc = pipe.scheduler
    shift = unipc.config.flow_shift
    euler = FlowMatchEulerDiscreteScheduler(shift=shift)
    z = pipe.vae.config.z_dim
    tf = pipe.vae.config.scale_factor_temporal
    sf = pipe.vae.config.scale_factor_spatial
    manifest = []
    for i, (case, image) in enumerate(zip(cases, images)):
        pipe.scheduler = unipc if case["sampler"] == "unipc" else euler
        t = (case["frames"] - 1) // tf + 1
        g = torch.Generator().manual_seed(seed_base + i)
        latents = torch.randn(1, z, t, case["height"] // sf, case["width"] // sf, generator=g)
        cfg = case["guidance"] > 1
        embeds, negative = base.encode_prompt(case["prompt"], case["negative_prompt"] if cfg else None,
                                              do_classifier_free_guidance=cfg, max_sequence_length=512,
                                              device="cpu")
        video = pipe(image=Image.fromarray(image), prompt_embeds=embeds,
                     negative_prompt_embeds=negative if cfg else None, height=case["height"], width=case["width"],
                     num_frames=case["frames"], num_inference_steps=case["steps"], guidance_scale=case["guidance"],
                     latents=latents.clone(), output_type="np").frames[0]
        frames = torch.from_numpy(video).to(torch.float32).contiguous()
        save_file({"image": torch.from_numpy(image.astype(np.float32)).contiguous(),
                   "latents": latents.contiguous(), "video": frames},
                  os.path.join(out, case["name"] + ".safetensors"))
        manifest.append(dict(case, shift=shift, video_shape=list(frames.shape)))
        print(f"{os.path.basename(out)}/{case['name']}", tuple(frames.shape), float(frames.min()), float(frames.max()))
    with open(os.path.join(out, "image-cases.json"), "w") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")


def main():
    torch.manual_seed(0)
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    for case in DIT_CASES:
        make_dit(case)
    rng = np.random.default_rng(7)
    # Smooth random images (a coarse grid scaled up), so that the VAE's latents carry structure.
    images = [np.asarray(Image.fromarray(rng.integers(0, 256, (4, 6, 3), dtype=np.uint8)).resize(
        (c["width"], c["height"]), Image.BILINEAR)) for c in PIPELINE_CASES]
    write_pipeline_cases(os.path.join(FIXTURES, "tiny-pipeline"), os.path.join(FIXTURES, "pipeline"),
                         PIPELINE_CASES, images, seed_base=300)
    sys.path.insert(0, os.path.join(ROOT, "tools", "acting-world"))
    from world import ClipSpec, render_clip  # noqa: E402

    spec = ClipSpec.from_dict({"colour": "red", "duration": 2.0, "shots": [
        {"start": 0.0, "end": 2.0, "framing": "closeup", "action": "still", "background": "sky",
         "emotions": [{"time": 0.0, "emotion": "happy"}], "x_start": 0.5, "x_end": 0.5}]})
    frame = render_clip(spec, size=64, fps=8.0)[0][0]
    write_pipeline_cases(os.path.join(ROOT, "models", "kinema-tiny"), os.path.join(FIXTURES, "kinema-tiny"),
                         KINEMA_TINY_CASES, [frame], seed_base=400)


if __name__ == "__main__":
    main()
