#!/usr/bin/env python3
"""Re-encodes rendered clips with blur, noise and JPEG artefacts, as .safetensors videos or
PNG folders, to check that the judge does not depend on pixel-perfect input.

    python tools/acting-world/judge/degrade.py --in DIR --out DIR2 [--format safetensors|png]
        [--blur 1.0] [--noise 0.03] [--jpeg 40]

DIR holds <id>.npz clips and prompts.jsonl (as written by generate.py); DIR2 gets the
degraded clips under the same ids and a copy of prompts.jsonl. Safetensors files hold a
float32 tensor `video` [F, H, W, 3] in [0, 1] and the frame rate in their metadata.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate import atomic_write_bytes, load_jsonl  # noqa: E402


def degrade(frames: np.ndarray, rng: np.random.Generator, blur: float, noise: float, jpeg: int) -> np.ndarray:
    """uint8 [F, H, W, 3] → float32 [F, H, W, 3] in [0, 1]."""
    out = np.empty(frames.shape, dtype=np.float32)
    for i, f in enumerate(frames):
        im = Image.fromarray(f)
        if blur > 0:
            im = im.filter(ImageFilter.GaussianBlur(blur))
        if jpeg > 0:
            buf = io.BytesIO()
            im.save(buf, format="JPEG", quality=jpeg)
            buf.seek(0)
            with Image.open(buf) as decoded:
                im = decoded.convert("RGB")
        out[i] = np.asarray(im, dtype=np.float32) / 255.0
    if noise > 0:
        out += rng.normal(0.0, noise, size=out.shape).astype(np.float32)
    return np.clip(out, 0.0, 1.0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--in", dest="src", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--format", choices=["safetensors", "png"], default="safetensors")
    ap.add_argument("--blur", type=float, default=1.0, help="Gaussian blur radius in pixels (0: none)")
    ap.add_argument("--noise", type=float, default=0.03, help="Gaussian noise std on [0, 1] values (0: none)")
    ap.add_argument("--jpeg", type=int, default=40, help="JPEG quality per frame (0: no JPEG)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from safetensors.numpy import save

    rows = load_jsonl(args.src / "prompts.jsonl")
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    for row in rows:
        with np.load(args.src / f"{row['id']}.npz", allow_pickle=False) as z:
            frames, fps = z["frames"], float(z["fps"])
        video = degrade(frames, rng, args.blur, args.noise, args.jpeg)
        if args.format == "safetensors":
            blob = save({"video": video}, metadata={"fps": f"{fps:g}"})
            atomic_write_bytes(args.out / f"{row['id']}.safetensors", lambda f, b=blob: f.write(b))
        else:
            folder = args.out / row["id"]
            if folder.exists():
                shutil.rmtree(folder)
            tmp = args.out / f".{row['id']}.tmp"
            if tmp.exists():
                shutil.rmtree(tmp)
            tmp.mkdir()
            for i, f in enumerate(video):
                Image.fromarray((f * 255.0).round().astype(np.uint8)).save(tmp / f"{i:05d}.png")
            tmp.rename(folder)
    shutil.copyfile(args.src / "prompts.jsonl", args.out / "prompts.jsonl")
    print(f"wrote {len(rows)} degraded clips ({args.format}, blur {args.blur}, noise {args.noise}, "
          f"jpeg {args.jpeg}) to {args.out}")
    print(json.dumps({"blur": args.blur, "noise": args.noise, "jpeg": args.jpeg}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
