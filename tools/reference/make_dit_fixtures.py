#!/usr/bin/env python3
"""Reference values for Kinema's Wan2.1 DiT and flow-matching samplers, from diffusers in float32.

Run with the virtualenv from tools/reference/setup-venv.sh, from the repository root:
    tools/reference/.venv/bin/python tools/reference/make_dit_fixtures.py

Writes, under Tests/KinemaTests/Fixtures/dit/:
  schedules.json                   UniPC and flow-matching Euler sigma/timestep tables for several
                                   (steps, shift) pairs, with the scheduler configs that made them.
  <config>/transformer/            save_pretrained() of a tiny random WanTransformer3DModel
                                   (config.json + safetensors; one config is sharded, the weights
                                   are stored as float32, bfloat16 or float16).
  <config>/expected.safetensors    inputs and outputs (float32): one forward pass, and a 4-step
                                   sampling loop with CFG (guidance 5) with both samplers.
  <config>/scheduler_unipc/, <config>/scheduler_euler/   scheduler_config.json of the loops.
  tiny12/original/diffusion_pytorch_model.safetensors    the same weights under the original Wan
                                   names (checked by converting back with diffusers' own
                                   single-file converter).
"""
import json
import math
import os
import shutil

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, UniPCMultistepScheduler, WanTransformer3DModel
from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers
from safetensors.torch import save_file

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "KinemaTests", "Fixtures", "dit")

# Tiny configurations: head dims 12/16/24 (RoPE splits t/h/w = 4/4/4, 8/4/4, 8/8/8), different
# layer counts, latent grids with odd frame counts, text rows zero-padded after `real_text`.
CONFIGS = [
    dict(name="tiny12", heads=2, head_dim=12, ffn=40, layers=2, channels=4, text_dim=20, freq_dim=32,
         patch=(1, 2, 2), latent=(3, 4, 6), text_len=16, real_text=7, dtype=torch.float32,
         timestep=937, shard=None),
    dict(name="tiny16", heads=3, head_dim=16, ffn=64, layers=3, channels=8, text_dim=24, freq_dim=16,
         patch=(1, 2, 2), latent=(5, 6, 4), text_len=12, real_text=5, dtype=torch.bfloat16,
         timestep=412.5, shard="40KB"),
    dict(name="tiny24", heads=2, head_dim=24, ffn=72, layers=1, channels=4, text_dim=16, freq_dim=20,
         patch=(1, 2, 1), latent=(3, 6, 5), text_len=10, real_text=3, dtype=torch.float16,
         timestep=51, shard=None),
]

GUIDANCE = 5.0
LOOP_STEPS = 4
LOOP_SHIFT = 3.0


def randomize(model, generator):
    """Every parameter random (norm weights around 1), so no term of the forward pass is trivial."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim == 1 and ("norm" in name):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator))
            elif p.ndim == 1:
                p.copy_(0.2 * torch.randn(p.shape, generator=generator))
            elif "scale_shift_table" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=generator))
            else:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=generator) / math.sqrt(fan_in))


def to_original_name(name):
    """diffusers name -> original Wan checkpoint name (the inverse of diffusers' converter)."""
    renames = [
        ("condition_embedder.time_embedder.linear_1", "time_embedding.0"),
        ("condition_embedder.time_embedder.linear_2", "time_embedding.2"),
        ("condition_embedder.text_embedder.linear_1", "text_embedding.0"),
        ("condition_embedder.text_embedder.linear_2", "text_embedding.2"),
        ("condition_embedder.time_proj", "time_projection.1"),
        (".attn1.", ".self_attn."),
        (".attn2.", ".cross_attn."),
        (".to_out.0.", ".o."),
        (".to_q.", ".q."),
        (".to_k.", ".k."),
        (".to_v.", ".v."),
        ("ffn.net.0.proj", "ffn.0"),
        ("ffn.net.2", "ffn.2"),
        (".norm2.", ".norm3."),
    ]
    if name == "scale_shift_table":
        return "head.modulation"
    if name.startswith("proj_out."):
        return "head.head." + name[len("proj_out."):]
    out = name
    for a, b in renames:
        out = out.replace(a, b)
    if out.startswith("blocks.") and out.endswith(".scale_shift_table"):
        out = out[: -len("scale_shift_table")] + "modulation"
    return out


def unipc_config(shift):
    # The scheduler of the published Wan2.1 diffusers checkpoints, with the given flow_shift.
    return dict(num_train_timesteps=1000, prediction_type="flow_prediction", use_flow_sigmas=True,
                flow_shift=shift, solver_order=2, solver_type="bh2", lower_order_final=True,
                predict_x0=True, final_sigmas_type="zero")


def run_loop(model, scheduler, latent, cond, uncond, guidance, steps):
    scheduler.set_timesteps(steps)
    scheduler.set_begin_index(0)
    x = latent.clone()
    for t in scheduler.timesteps:
        ts = t.expand(1)
        v = model(hidden_states=x, timestep=ts, encoder_hidden_states=cond, return_dict=False)[0]
        if guidance > 1:
            vu = model(hidden_states=x, timestep=ts, encoder_hidden_states=uncond, return_dict=False)[0]
            v = vu + guidance * (v - vu)
        x = scheduler.step(v, t, x, return_dict=False)[0]
    return x


def make_config(cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    dim = cfg["heads"] * cfg["head_dim"]
    model = WanTransformer3DModel(
        patch_size=cfg["patch"], num_attention_heads=cfg["heads"], attention_head_dim=cfg["head_dim"],
        in_channels=cfg["channels"], out_channels=cfg["channels"], text_dim=cfg["text_dim"],
        freq_dim=cfg["freq_dim"], ffn_dim=cfg["ffn"], num_layers=cfg["layers"], cross_attn_norm=True,
        qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
    randomize(model, gen)
    # Round to the storage precision, then compute in float32 with exactly the stored values.
    model = model.to(cfg["dtype"])
    out_dir = os.path.join(ROOT, cfg["name"])
    shutil.rmtree(out_dir, ignore_errors=True)
    save_kwargs = dict(safe_serialization=True)
    if cfg["shard"]:
        save_kwargs["max_shard_size"] = cfg["shard"]
    model.save_pretrained(os.path.join(out_dir, "transformer"), **save_kwargs)
    # Reload in float32: this reads back exactly what was stored, and rebuilds the RoPE tables
    # (non-persistent buffers that the 16-bit cast above rounded) in float64 as a real load does.
    model = WanTransformer3DModel.from_pretrained(os.path.join(out_dir, "transformer"),
                                                  torch_dtype=torch.float32).eval()

    if cfg["name"] == "tiny12":
        sd = {k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}
        original = {to_original_name(k): v for k, v in sd.items()}
        back = convert_wan_transformer_to_diffusers(dict(original))
        assert set(back) == set(sd), sorted(set(back) ^ set(sd))
        assert all(torch.equal(back[k], sd[k]) for k in sd)
        os.makedirs(os.path.join(out_dir, "original"))
        save_file(original, os.path.join(out_dir, "original", "diffusion_pytorch_model.safetensors"))
        # Single-file checkpoints carry the same names behind "model.diffusion_model."; the tests
        # write that form from this file, so it is not stored twice.
        prefixed = {"model.diffusion_model." + k: v for k, v in original.items()}
        assert set(convert_wan_transformer_to_diffusers(dict(prefixed))) == set(sd)

    C = cfg["channels"]
    T, H, W = cfg["latent"]
    L, real = cfg["text_len"], cfg["real_text"]
    latent = torch.randn(1, C, T, H, W, generator=gen)
    context = torch.zeros(1, L, cfg["text_dim"])
    context[:, :real] = torch.randn(1, real, cfg["text_dim"], generator=gen)
    uncond = torch.zeros(1, L, cfg["text_dim"])
    uncond[:, : real - 2] = torch.randn(1, real - 2, cfg["text_dim"], generator=gen)

    out = {}
    with torch.no_grad():
        t = torch.tensor([cfg["timestep"]], dtype=torch.float32)
        v = model(hidden_states=latent, timestep=t, encoder_hidden_states=context, return_dict=False)[0]
        out["forward.latent"] = latent[0]
        out["forward.context"] = context[0]
        out["forward.timestep"] = t
        out["forward.output"] = v[0]

        noise = torch.randn(1, C, T, H, W, generator=gen)
        out["loop.initial"] = noise[0]
        out["loop.cond"] = context[0].clone()
        out["loop.uncond"] = uncond[0]
        unipc = UniPCMultistepScheduler(**unipc_config(LOOP_SHIFT))
        unipc.save_config(os.path.join(out_dir, "scheduler_unipc"))
        out["loop.unipc"] = run_loop(model, unipc, noise, context, uncond, GUIDANCE, LOOP_STEPS)[0]
        euler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=LOOP_SHIFT)
        euler.save_config(os.path.join(out_dir, "scheduler_euler"))
        out["loop.euler"] = run_loop(model, euler, noise, context, uncond, GUIDANCE, LOOP_STEPS)[0]
    save_file({k: v.detach().to(torch.float32).contiguous() for k, v in out.items()},
              os.path.join(out_dir, "expected.safetensors"),
              metadata={"guidance": str(GUIDANCE), "steps": str(LOOP_STEPS), "shift": str(LOOP_SHIFT)})
    size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(out_dir) for f in fs)
    print(f"{cfg['name']}: {size / 1024:.0f} KB, output max |v| = {v.abs().max().item():.4f}")


def public_config(scheduler):
    return {k: v for k, v in scheduler.config.items() if not k.startswith("_")}


def make_schedules():
    tables = []
    for steps, shift in [(4, 3.0), (10, 5.0), (25, 1.0), (50, 3.0), (50, 5.0), (37, 12.0), (1, 3.0)]:
        unipc = UniPCMultistepScheduler(**unipc_config(shift))
        unipc.set_timesteps(steps)
        euler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=shift)
        euler.set_timesteps(steps)
        tables.append(dict(
            steps=steps, shift=shift,
            unipc_config=public_config(unipc), euler_config=public_config(euler),
            unipc_timesteps=[int(t) for t in unipc.timesteps],
            unipc_sigmas=[float(s) for s in unipc.sigmas],
            euler_timesteps=[float(t) for t in euler.timesteps],
            euler_sigmas=[float(s) for s in euler.sigmas],
        ))
    with open(os.path.join(ROOT, "schedules.json"), "w") as f:
        json.dump(tables, f, indent=1, sort_keys=True, default=list)


def main():
    torch.manual_seed(0)
    os.makedirs(ROOT, exist_ok=True)
    make_schedules()
    for i, cfg in enumerate(CONFIGS):
        make_config(cfg, seed=100 + i)


if __name__ == "__main__":
    main()
