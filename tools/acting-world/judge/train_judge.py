#!/usr/bin/env python3
"""Trains the acting-world judge on freshly rendered labelled frames and saves judge.pt.

    python tools/acting-world/judge/train_judge.py [--frames 12000] [--threads 2]

Frames are single random poses (every colour, emotion incl. part-way transitions, framing,
action pose and background) rendered at 64, 96 or 128 px and reduced to the judge's 64x64.
Training stops as soon as the validation accuracy reaches the targets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from model import DEFAULT_WEIGHTS, Judge, JudgeNet, Segmenter, measure_hue_centres, prepare  # noqa: E402
from world import COLOUR_NAMES, EMOTIONS, FRAMINGS, random_state, render_state  # noqa: E402

JUDGE_NAMESPACE = 3  # seed namespace of judge training frames (clips use 1 and 2)
SIZES = [64, 96, 128]
SIZE_P = [0.5, 0.25, 0.25]


def render_frames(count: int, seed: int) -> dict[str, np.ndarray]:
    """`count` random labelled frames, already reduced to 64x64 uint8 [N, 3, 64, 64]."""
    out = np.empty((count, 3, 64, 64), dtype=np.uint8)
    labels = {"colour": np.empty(count, np.int64), "emotion": np.empty(count, np.int64),
              "framing": np.empty(count, np.int64), "x": np.empty(count, np.float32)}
    for i in range(count):
        rng = np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(JUDGE_NAMESPACE, i)))
        state, lab = random_state(rng)
        size = int(rng.choice(SIZES, p=SIZE_P))
        img = render_state(state, size)
        out[i] = (prepare(img[None])[0] * 255.0).round().clamp(0, 255).to(torch.uint8).numpy()
        labels["colour"][i] = COLOUR_NAMES.index(lab["colour"])
        labels["emotion"][i] = EMOTIONS.index(lab["emotion"])
        labels["framing"][i] = FRAMINGS.index(lab["framing"])
        labels["x"][i] = lab["x"]
    return {"frames": out, **labels}


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Mirror, small shifts, blur, loss of resolution, brightness/contrast jitter and noise:
    the judge should not depend on pixel-exact rendering, since it will score generated video."""
    n = x.shape[0]
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    dx, dy = (int(v) for v in torch.randint(-3, 4, (2,), generator=gen))
    x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    # down- and up-sampling, as a video decoder loses detail
    soft = torch.rand(n, generator=gen) < 0.2
    if soft.any():
        side = int(torch.randint(36, 52, (1,), generator=gen))
        low = F.interpolate(x, size=(side, side), mode="area")
        x = torch.where(soft[:, None, None, None], F.interpolate(low, size=x.shape[-2:], mode="bilinear",
                                                                 align_corners=False), x)
    # binomial blur of width 3 or 5
    kind = torch.randint(0, 6, (n,), generator=gen)  # 0-2 none, 3-4 narrow, 5 wide
    for taps, sel in (([1.0, 2.0, 1.0], (kind == 3) | (kind == 4)), ([1.0, 4.0, 6.0, 4.0, 1.0], kind == 5)):
        if sel.any():
            k = torch.tensor(taps) / sum(taps)
            kernel = (k[:, None] * k[None, :]).expand(3, 1, len(taps), len(taps))
            p = len(taps) // 2
            blurred = F.conv2d(F.pad(x, (p, p, p, p), mode="replicate"), kernel, groups=3)
            x = torch.where(sel[:, None, None, None], blurred, x)
    gain = 1 + (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.25
    bias = (torch.rand(n, 1, 1, 1, generator=gen) - 0.5) * 0.12
    x = (x - 0.5) * gain + 0.5 + bias
    sigma = torch.rand(n, 1, 1, 1, generator=gen) * 0.05
    x = x + torch.randn(x.shape, generator=gen) * sigma
    return x.clamp(0, 1)


@torch.no_grad()
def evaluate(net: JudgeNet, data: dict[str, np.ndarray]) -> dict[str, float]:
    net.eval()
    x = torch.from_numpy(data["frames"]).float() / 255.0
    emo, fr = [], []
    for i in range(0, len(x), 512):
        e, f = net(x[i:i + 512])
        emo.append(e.argmax(-1))
        fr.append(f.argmax(-1))
    emo_pred = torch.cat(emo).numpy()
    fr_pred = torch.cat(fr).numpy()
    out = {"emotion": float((emo_pred == data["emotion"]).mean()),
           "framing": float((fr_pred == data["framing"]).mean())}
    for k, name in enumerate(FRAMINGS):
        sel = data["framing"] == k
        out[f"emotion_{name}"] = float((emo_pred[sel] == data["emotion"][sel]).mean())
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=12000, help="training frames (default 12000)")
    ap.add_argument("--val-frames", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=8, help="upper bound; stops early at the targets")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--target-emotion", type=float, default=0.98)
    ap.add_argument("--target-framing", type=float, default=0.998)
    ap.add_argument("--out", type=Path, default=DEFAULT_WEIGHTS)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    t0 = time.time()
    train = render_frames(args.frames, seed=args.seed)
    val = render_frames(args.val_frames, seed=args.seed + 1_000_003)
    print(f"rendered {args.frames} + {args.val_frames} frames in {time.time() - t0:.1f} s", flush=True)

    calib = torch.from_numpy(train["frames"][:3000]).float() / 255.0
    centres = measure_hue_centres(calib, train["colour"][:3000])
    segmenter = Segmenter(hue_centres=centres)
    seg = segmenter.analyse(torch.from_numpy(val["frames"]).float() / 255.0)
    colour_acc = float((seg["colour"] == val["colour"]).mean())
    x_err = float(np.nanmean(np.abs(seg["x"] - val["x"])))
    print(f"hue centres {dict(zip(COLOUR_NAMES, centres))}; val colour accuracy {colour_acc:.4f}, "
          f"mean |x error| {x_err:.4f}", flush=True)

    net = JudgeNet(width=args.width)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps_per_epoch = args.frames // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch,
                                                pct_start=0.15)
    gen = torch.Generator().manual_seed(args.seed)
    frames = torch.from_numpy(train["frames"])
    emo_y = torch.from_numpy(train["emotion"])
    fr_y = torch.from_numpy(train["framing"])
    metrics: dict[str, float] = {}
    epoch = 0
    for epoch in range(1, args.epochs + 1):
        net.train()
        perm = torch.randperm(args.frames, generator=gen)
        total = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * args.batch:(s + 1) * args.batch]
            x = augment(frames[idx].float() / 255.0, gen)
            e, f = net(x)
            loss = F.cross_entropy(e, emo_y[idx], label_smoothing=0.05) + 0.5 * F.cross_entropy(f, fr_y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item()
        metrics = evaluate(net, val)
        print(f"epoch {epoch}: loss {total / steps_per_epoch:.4f}, val {metrics} "
              f"({time.time() - t0:.0f} s)", flush=True)
        if metrics["emotion"] >= args.target_emotion and metrics["framing"] >= args.target_framing:
            print("targets reached", flush=True)
            break

    info = {"width": args.width, "train_frames": args.frames, "val_frames": args.val_frames, "seed": args.seed,
            "epochs": epoch, "val": metrics, "val_colour": colour_acc, "val_x_abs_error": x_err}
    judge = Judge(net=net, segmenter=segmenter, info=info)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_name(args.out.name + ".tmp")
    judge.save(tmp)
    tmp.replace(args.out)
    print(f"saved {args.out} ({args.out.stat().st_size / 1024:.0f} KiB) after {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
