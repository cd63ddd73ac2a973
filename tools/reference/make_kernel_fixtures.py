#!/usr/bin/env python3
"""Reference values for Kinema's CPU kernels, computed with PyTorch in float32.

Run with the virtualenv from tools/reference/setup-venv.sh:
    tools/reference/.venv/bin/python tools/reference/make_kernel_fixtures.py
Writes Tests/KinemaTests/Fixtures/kernels/kernels.safetensors (inputs and expected outputs).
"""
import math
import os

import torch
import torch.nn.functional as F
from safetensors.torch import save_file

torch.manual_seed(1234)
out = {}


def put(name, t):
    out[name] = t.detach().to(torch.float32).contiguous()


# Activations
x = torch.randn(3, 37) * 3
put("act.x", x)
put("act.gelu_tanh", F.gelu(x, approximate="tanh"))
put("act.gelu_erf", F.gelu(x))
put("act.silu", F.silu(x))
put("act.softmax", torch.softmax(x, dim=-1))

# LayerNorm with and without affine (eps 1e-6 as in Wan), T5 RMSNorm, Wan-VAE channel RMS norm
x = torch.randn(5, 48) * 2 + 0.5
w = torch.randn(48)
b = torch.randn(48)
put("ln.x", x); put("ln.w", w); put("ln.b", b)
put("ln.affine", F.layer_norm(x, (48,), w, b, eps=1e-6))
put("ln.plain", F.layer_norm(x, (48,), None, None, eps=1e-6))
variance = x.pow(2).mean(-1, keepdim=True)
put("rms.t5", w * (x * torch.rsqrt(variance + 1e-6)))
xc = torch.randn(12, 3, 5, 7)
g = torch.randn(12, 1, 1, 1)
put("crms.x", xc); put("crms.gamma", g.reshape(12))
put("crms.out", F.normalize(xc, dim=0) * math.sqrt(12) * g)

# Interleaved RoPE as diffusers' Wan applies it (complex multiply of channel pairs)
tokens, heads, hd = 6, 3, 10
x = torch.randn(tokens, heads, hd)
angles = torch.randn(tokens, hd // 2) * 3
freqs = torch.polar(torch.ones_like(angles), angles)
xc = torch.view_as_complex(x.reshape(tokens, heads, hd // 2, 2))
rot = torch.view_as_real(xc * freqs[:, None, :]).reshape(tokens, heads, hd)
put("rope.x", x); put("rope.cos", angles.cos()); put("rope.sin", angles.sin()); put("rope.out", rot)

# Attention: 4 heads × 24 dims, 300 queries × 2600 keys (crosses the 2048-key block), plus a
# per-key bias with a masked key, and a per-head logit bias (relative position style).
H, D, LQ, LK = 2, 16, 260, 2200
q = torch.randn(LQ, H * D); k = torch.randn(LK, H * D); v = torch.randn(LK, H * D)
def sdpa(q, k, v, bias=None, scale=None):
    qh = q.reshape(-1, H, D).transpose(0, 1)
    kh = k.reshape(-1, H, D).transpose(0, 1)
    vh = v.reshape(-1, H, D).transpose(0, 1)
    o = F.scaled_dot_product_attention(qh, kh, vh, attn_mask=bias, scale=scale)
    return o.transpose(0, 1).reshape(-1, H * D)
put("attn.q", q); put("attn.k", k); put("attn.v", v)
put("attn.out", sdpa(q, k, v))
kbias = torch.zeros(LK); kbias[5] = float("-inf"); kbias[7] = math.log(3.0)
put("attn.key_bias", kbias)
put("attn.out_key_bias", sdpa(q, k, v, bias=kbias.expand(H, LQ, LK)))
q2 = torch.randn(9, H * D); k2 = torch.randn(11, H * D); v2 = torch.randn(11, H * D)
lb = torch.randn(H, 9, 11)
put("attn2.q", q2); put("attn2.k", k2); put("attn2.v", v2); put("attn2.logit_bias", lb)
put("attn2.out_unscaled", sdpa(q2, k2, v2, bias=lb, scale=1.0))

# Causal Conv3d (Wan): 2·pt zeros in front, none behind; spatial symmetric.
x = torch.randn(3, 4, 9, 11)
w = torch.randn(5, 3, 3, 3, 3) * 0.2
b = torch.randn(5)
put("conv3d.x", x); put("conv3d.w", w); put("conv3d.b", b)
put("conv3d.causal", F.conv3d(F.pad(x[None], (1, 1, 1, 1, 2, 0)), w, b)[0])
w1 = torch.randn(6, 3, 1, 1, 1); put("conv3d.w1", w1)
put("conv3d.pointwise", F.conv3d(x[None], w1, b.new_zeros(6) + 0.25)[0])
wt = torch.randn(4, 3, 3, 1, 1) * 0.3; put("conv3d.wt", wt)
put("conv3d.time_stride2", F.conv3d(x[None], wt, None, stride=(2, 1, 1))[0])
# Conv2d: 3×3 pad 1, and the VAE's stride-2 downsample with right/bottom padding only
x2 = torch.randn(4, 10, 13)
w2 = torch.randn(6, 4, 3, 3) * 0.2
b2 = torch.randn(6)
put("conv2d.x", x2); put("conv2d.w", w2); put("conv2d.b", b2)
put("conv2d.same", F.conv2d(x2[None], w2, b2, padding=1)[0])
put("conv2d.down", F.conv2d(F.pad(x2[None], (0, 1, 0, 1)), w2, b2, stride=2)[0])

# Resampling
x = torch.randn(3, 4, 6)
put("up.x", x)
put("up.nearest_exact", F.interpolate(x[None], scale_factor=2.0, mode="nearest-exact")[0])
x = torch.randn(2, 6, 8)
put("shuffle.x", x)
put("shuffle.unshuffle2", F.pixel_unshuffle(x[None], 2)[0])
y = torch.randn(8, 3, 5)
put("shuffle.y", y)
put("shuffle.shuffle2", F.pixel_shuffle(y[None], 2)[0])

here = os.path.dirname(os.path.abspath(__file__))
dest = os.path.join(here, "..", "..", "Tests", "KinemaTests", "Fixtures", "kernels")
os.makedirs(dest, exist_ok=True)
save_file(out, os.path.join(dest, "kernels.safetensors"), metadata={"generator": "tools/reference/make_kernel_fixtures.py", "torch": torch.__version__})
print("wrote", len(out), "tensors")
