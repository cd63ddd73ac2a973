#!/usr/bin/env python3
"""How much of the character's emotion a VAE's latents still hold, against the pixels.

    python tools/train-tiny/probe_latents.py [--model models/kinema-tiny] [--frames 3000] [--threads 2]

Renders --frames random single frames of the acting world (every colour, emotion, framing,
pose and background, as the judge is trained), encodes each with the model's VAE encoder
(posterior mean of a one-frame clip) and trains the same small CNN, from the same seed, to read
the emotion once from the latents and once from the 64x64 pixels, on the first two thirds; it
prints the accuracy on the last third, by framing. If the latents score close to the pixels, the
emotion survives the encoder and what a round trip loses is the decoder's doing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "acting-world"))

from world import EMOTIONS, random_state, render_state  # noqa: E402


def probe_accuracy(features: torch.Tensor, labels: torch.Tensor, train: int, stride: int, seed: int,
                   epochs: int = 25) -> np.ndarray:
    """Per-sample correctness on features[train:] of a 3-layer CNN trained on features[:train]."""
    torch.manual_seed(seed)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(features.shape[1], 32, 3, stride, 1), torch.nn.SiLU(),
        torch.nn.Conv2d(32, 64, 3, 2, 1), torch.nn.SiLU(),
        torch.nn.Conv2d(64, 64, 3, 1, 1), torch.nn.SiLU(),
        torch.nn.AdaptiveMaxPool2d(1), torch.nn.Flatten(), torch.nn.Linear(64, len(EMOTIONS)))
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    for _ in range(epochs):
        order = torch.randperm(train)
        for i in range(0, train, 64):
            batch = order[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(net(features[batch]), labels[batch]).backward()
            opt.step()
    with torch.no_grad():
        return (net(features[train:]).argmax(1) == labels[train:]).numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=Path("models/kinema-tiny"))
    ap.add_argument("--frames", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if args.frames < 30:
        raise SystemExit("--frames: at least 30")
    from diffusers import AutoencoderKLWan

    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    frames, emotions, framings = [], [], []
    for _ in range(args.frames):
        state, label = random_state(rng)
        frames.append(render_state(state, 64))
        emotions.append(EMOTIONS.index(label["emotion"]))
        framings.append(label["framing"])
    pixels = torch.from_numpy(np.stack(frames)).float().div(127.5).sub(1.0).permute(0, 3, 1, 2)
    labels = torch.tensor(emotions)
    framings = np.array(framings)
    vae = AutoencoderKLWan.from_pretrained(str(args.model / "vae")).eval()
    with torch.no_grad():
        latents = torch.cat([vae.encode(pixels[i:i + 100, :, None]).latent_dist.mean[:, :, 0]
                             for i in range(0, len(pixels), 100)])
    train = 2 * args.frames // 3
    # Each latent channel standardised on the training part, as the DiT sees them.
    mean = latents[:train].mean(dim=(0, 2, 3), keepdim=True)
    std = latents[:train].std(dim=(0, 2, 3), keepdim=True)
    rows = [("latents", latents.shape[1:], probe_accuracy((latents - mean) / std, labels, train, 1, args.seed)),
            ("pixels", pixels.shape[1:], probe_accuracy(pixels, labels, train, 4, args.seed))]
    test = framings[train:]
    print(f"emotion read by a small CNN from {args.frames - train} held-out frames ({train} to train), "
          f"VAE of {args.model}")
    print("| input | shape | all | close-up | wide |")
    print("|---|---|---|---|---|")
    for name, shape, ok in rows:
        print(f"| {name} | {'x'.join(map(str, shape))} | {ok.mean():.1%} | {ok[test == 'closeup'].mean():.1%} "
              f"| {ok[test == 'wide'].mean():.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
