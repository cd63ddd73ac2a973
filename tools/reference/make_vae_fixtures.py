#!/usr/bin/env python3
"""Reference values for Kinema's Wan VAE (diffusers `AutoencoderKLWan`), float32 on the CPU.

Run with the virtualenv from tools/reference/setup-venv.sh:
    tools/reference/.venv/bin/python tools/reference/make_vae_fixtures.py

For every tiny configuration below it writes, under Tests/KinemaTests/Fixtures/vae/<name>/:
  vae/config.json, vae/diffusion_pytorch_model.safetensors   (save_pretrained of random weights)
  expected.safetensors   decode.latent [z, 5, h, w] (normalised latents, as a pipeline hands
                         them to the VAE) and decode.video [3, F, H, W] (clamped output);
                         encode.video [3, 9, H, W] in [-1, 1] and encode.latent (normalised
                         posterior mean). Decoding 1, 2, 3 latent frames and encoding 1, 5
                         pixel frames are run too and checked to equal the stored prefixes.
  original_names.json    Wan2.1 original tensor name -> diffusers name, for every tensor
                         (checked against diffusers' own converter where it applies)

Latent (de)normalisation follows diffusers' Wan pipelines: decode input z / (1/std) + mean,
encode output (mu - mean) * (1/std).
"""
import json
import math
import os
import sys

import torch
from diffusers import AutoencoderKLWan
from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
OUT = os.path.join(ROOT, "Tests", "KinemaTests", "Fixtures", "vae")

CONFIGS = {
    # Three resolution levels (spatial ×4), the time step at the first level, so the decoder's
    # upsample3d is its last resample; z_dim 4.
    "tiny_a": dict(base_dim=4, z_dim=4, dim_mult=[1, 2, 2], num_res_blocks=2,
                   temperal_downsample=[True, False], height=16, width=24, seed=11),
    # Four levels (spatial ×8, temporal ×4 as in Wan2.1), z_dim 16, one residual block per level.
    "tiny_b": dict(base_dim=4, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                   temperal_downsample=[False, True, True], height=16, width=24, seed=12),
}


def original_name(key, num_res_blocks):
    """Wan2.1 original (`Wan2.1_VAE.pth`) name of a diffusers AutoencoderKLWan tensor name."""
    head = {
        "norm_out.gamma": "head.0.gamma", "conv_out.weight": "head.2.weight", "conv_out.bias": "head.2.bias",
        "conv_in.weight": "conv1.weight", "conv_in.bias": "conv1.bias",
    }
    resnet = {
        "norm1.gamma": "residual.0.gamma", "conv1.weight": "residual.2.weight", "conv1.bias": "residual.2.bias",
        "norm2.gamma": "residual.3.gamma", "conv2.weight": "residual.6.weight", "conv2.bias": "residual.6.bias",
        "conv_shortcut.weight": "shortcut.weight", "conv_shortcut.bias": "shortcut.bias",
    }
    if key.startswith("quant_conv."):
        return "conv1." + key.split(".", 1)[1]
    if key.startswith("post_quant_conv."):
        return "conv2." + key.split(".", 1)[1]
    side, rest = key.split(".", 1)
    if rest in head:
        return f"{side}.{head[rest]}"
    parts = rest.split(".")
    if parts[0] == "mid_block":
        kind, idx, leaf = parts[1], int(parts[2]), ".".join(parts[3:])
        if kind == "attentions":
            return f"{side}.middle.1.{leaf}"
        return f"{side}.middle.{0 if idx == 0 else 2}.{resnet[leaf]}"
    if parts[0] == "down_blocks":
        idx, leaf = int(parts[1]), ".".join(parts[2:])
        return f"{side}.downsamples.{idx}.{resnet.get(leaf, leaf)}"
    if parts[0] == "up_blocks":
        level, kind = int(parts[1]), parts[2]
        per_level = num_res_blocks + 2  # residual blocks, then the resample
        if kind == "resnets":
            flat, leaf = level * per_level + int(parts[3]), ".".join(parts[4:])
            return f"{side}.upsamples.{flat}.{resnet[leaf]}"
        flat, leaf = level * per_level + num_res_blocks + 1, ".".join(parts[4:])
        return f"{side}.upsamples.{flat}.{leaf}"
    raise ValueError(f"no original name for {key}")


def randomise(vae, gen):
    """Default init leaves γ = 1; give every γ a spread so a misplaced norm weight shows."""
    with torch.no_grad():
        for name, p in vae.named_parameters():
            if name.endswith("gamma"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


def check_original_names():
    """diffusers' converter hard-codes the Wan2.1 layout (four levels, two residual blocks);
    on that layout `original_name` must be its exact inverse."""
    vae = AutoencoderKLWan(base_dim=2, z_dim=4, latents_mean=[0.0] * 4, latents_std=[1.0] * 4)
    state = vae.state_dict()
    names = {original_name(k, 2): k for k in state}
    converted = convert_wan_vae_to_diffusers({o: o for o in names})
    if len(names) != len(state) or any(converted.get(d) != o for o, d in names.items()):
        sys.exit("original_name disagrees with diffusers' convert_wan_vae_to_diffusers")


def main():
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    check_original_names()
    for name, c in CONFIGS.items():
        torch.manual_seed(c["seed"])
        gen = torch.Generator().manual_seed(c["seed"])
        z = c["z_dim"]
        mean = [round(v, 4) for v in (torch.randn(z, generator=gen) * 0.5).tolist()]
        std = [round(v, 4) for v in (0.5 + torch.rand(z, generator=gen) * 2).tolist()]
        vae = AutoencoderKLWan(base_dim=c["base_dim"], z_dim=z, dim_mult=c["dim_mult"],
                               num_res_blocks=c["num_res_blocks"], temperal_downsample=c["temperal_downsample"],
                               latents_mean=mean, latents_std=std,
                               scale_factor_temporal=2 ** sum(c["temperal_downsample"]),
                               scale_factor_spatial=2 ** (len(c["dim_mult"]) - 1)).eval()
        randomise(vae, gen)
        folder = os.path.join(OUT, name)
        vae.save_pretrained(os.path.join(folder, "vae"), safe_serialization=True)

        mean_t = torch.tensor(mean).view(1, z, 1, 1, 1)
        inv_std = 1.0 / torch.tensor(std).view(1, z, 1, 1, 1)
        scale = 2 ** (len(c["dim_mult"]) - 1)
        h, w = c["height"] // scale, c["width"] // scale
        tensors = {}
        with torch.no_grad():
            # Both directions are causal, so decoding (encoding) the first k frames gives the
            # first frames of the full result. Each length is run on its own and checked to be
            # that prefix (to 1e-5: torch takes other summation paths for other lengths);
            # only the longest input and output are stored.
            latent = torch.randn(1, z, 5, h, w, generator=gen)
            full = None
            for t in (5, 3, 2, 1):
                video = vae.decode(latent[:, :, :t] / inv_std + mean_t).sample
                print(f"{name} decode T={t}: video {tuple(video.shape[1:])} "
                      f"range [{video.min():.3f}, {video.max():.3f}] std {video.std():.3f}")
                if full is None:
                    full = video
                elif (d := (full[:, :, :video.shape[2]] - video).abs().max().item()) > 1e-5:
                    sys.exit(f"{name}: decoding {t} latent frames differs from the prefix by {d}")
            tensors["decode.latent"] = latent[0]
            tensors["decode.video"] = full[0]
            video = torch.rand(1, 3, 9, c["height"], c["width"], generator=gen) * 2 - 1
            full = None
            for f in (9, 5, 1):
                mu = vae.encode(video[:, :, :f]).latent_dist.mode()
                latent = (mu - mean_t) * inv_std
                print(f"{name} encode F={f}: latent {tuple(latent.shape[1:])} "
                      f"range [{latent.min():.3f}, {latent.max():.3f}]")
                if full is None:
                    full = latent
                elif (d := (full[:, :, :latent.shape[2]] - latent).abs().max().item()) > 1e-5:
                    sys.exit(f"{name}: encoding {f} frames differs from the prefix by {d}")
            tensors["encode.video"] = video[0]
            tensors["encode.latent"] = full[0]
        save_file({k: v.contiguous().float() for k, v in tensors.items()},
                  os.path.join(folder, "expected.safetensors"))

        state = vae.state_dict()
        names = {original_name(k, c["num_res_blocks"]): k for k in state}
        if len(names) != len(state):
            sys.exit(f"{name}: original names are not unique")
        with open(os.path.join(folder, "original_names.json"), "w") as fh:
            json.dump(dict(sorted(names.items())), fh, indent=1)
            fh.write("\n")
        size = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in os.walk(folder) for f in fs)
        print(f"{name}: {len(state)} tensors, fixtures {size / 1024:.0f} KB")


if __name__ == "__main__":
    main()
