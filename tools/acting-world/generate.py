#!/usr/bin/env python3
"""Writes acting-world clips (.npz with frames and per-frame labels) and prompts.jsonl.

Modes:
  generate.py --count N --out DIR --seed S        random training clips (training seed stream)
  generate.py --from SPECS.jsonl --out DIR        render the specs listed in a jsonl file
                                                  (e.g. the held-out set)
  generate.py --make-heldout PATH                 (re)build the held-out prompt set
Common options: --size (64), --fps (8), --no-frames (prompts.jsonl only).

Each .npz holds `frames` uint8 [T, H, W, 3] and the label arrays `colour`, `emotion`, `x`, `y`,
`framing`, `action`, `shot`, `is_cut`, `time` (index vocabularies in `vocab`), plus `fps`,
`spec` and `timeline` as JSON strings. Each prompts.jsonl line is
{"id", "prompt", "spec", "timeline", "frames", "fps", "size"}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from prompts import sample_spec, spec_to_prompt, spec_to_timeline  # noqa: E402
from world import (ACTIONS, COLOUR_NAMES, EMOTIONS, FRAMINGS, ClipSpec,  # noqa: E402
                   clip_frame_count, render_clip)

HERE = Path(__file__).resolve().parent
HELDOUT_PATH = HERE / "heldout.jsonl"

# Seed streams: clip i of stream (seed, namespace) draws from SeedSequence(seed, spawn_key=(ns, i)).
# The training and held-out namespaces never share a generator state.
TRAIN_NAMESPACE = 1
HELDOUT_NAMESPACE = 2
HELDOUT_SEED = 20250101
HELDOUT_COUNT = 72
DURATIONS = [float(d) for d in np.arange(2.0, 8.0 + 1e-9, 0.5)]


def clip_rng(seed: int, namespace: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(entropy=seed, spawn_key=(namespace, index)))


def sample_clip(seed: int, namespace: int, index: int, min_duration: float = 2.0, max_duration: float = 8.0,
                exclude_prompts: set[str] | None = None) -> tuple[ClipSpec, str]:
    """Spec and prompt for clip `index` of a stream; prompts in `exclude_prompts` are redrawn."""
    rng = clip_rng(seed, namespace, index)
    choices = [d for d in DURATIONS if min_duration - 1e-9 <= d <= max_duration + 1e-9]
    if not choices:
        raise ValueError(f"no clip duration on the 0.5 s grid within [{min_duration}, {max_duration}]")
    duration = float(rng.choice(choices))
    spec = sample_spec(rng, duration)
    prompt = spec_to_prompt(spec, rng)
    tries = 0
    while exclude_prompts and prompt in exclude_prompts:
        tries += 1
        if tries > 100:
            raise RuntimeError(f"clip {index}: could not draw a prompt outside the excluded set")
        spec = sample_spec(rng, duration)
        prompt = spec_to_prompt(spec, rng)
    return spec, prompt


def load_jsonl(path: Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{n}: invalid JSON ({error})") from error
    return rows


def heldout_prompts() -> set[str]:
    if not HELDOUT_PATH.exists():
        return set()
    return {row["prompt"] for row in load_jsonl(HELDOUT_PATH)}


def atomic_write_bytes(path: Path, write) -> None:
    """Calls write(file) on a temporary file beside `path`, then renames it into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_clip(path: Path, spec: ClipSpec, size: int, fps: float) -> int:
    frames, labels = render_clip(spec, size=size, fps=fps)
    vocab = json.dumps({"colour": COLOUR_NAMES, "emotion": EMOTIONS, "framing": FRAMINGS, "action": ACTIONS})

    def write(f):
        np.savez_compressed(f, frames=frames, fps=np.float32(fps), spec=np.array(json.dumps(spec.to_dict())),
                            timeline=np.array(json.dumps(spec_to_timeline(spec))), vocab=np.array(vocab),
                            **labels)
    atomic_write_bytes(path, write)
    return len(frames)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_bytes(path, lambda f: f.write("".join(json.dumps(r) + "\n" for r in rows).encode("utf-8")))


def row_for(clip_id: str, spec: ClipSpec, prompt: str, size: int, fps: float) -> dict:
    return {"id": clip_id, "prompt": prompt, "spec": spec.to_dict(), "timeline": spec_to_timeline(spec),
            "frames": clip_frame_count(spec.duration, fps), "fps": fps, "size": size}


# MARK: - Held-out set


def make_heldout(path: Path, count: int, check_count: int, check_seed: int) -> None:
    """Held-out specs from their own seed namespace, with no prompt equal to one of the first
    `check_count` prompts of training stream `check_seed`; durations cycle over 2-8 s."""
    train_prompts = {sample_clip(check_seed, TRAIN_NAMESPACE, i)[1] for i in range(check_count)}
    rows = []
    index = 0
    while len(rows) < count:
        rng = clip_rng(HELDOUT_SEED, HELDOUT_NAMESPACE, index)
        index += 1
        duration = DURATIONS[len(rows) % len(DURATIONS)]
        spec = sample_spec(rng, duration)
        prompt = spec_to_prompt(spec, rng)
        if prompt in train_prompts or any(prompt == r["prompt"] for r in rows):
            continue
        rows.append({"id": f"heldout_{len(rows):03d}", "prompt": prompt, "spec": spec.to_dict(),
                     "timeline": spec_to_timeline(spec)})
    write_jsonl(path, rows)
    cover = Counter()
    for r in rows:
        tl = r["timeline"]
        cover.update(f"colour:{s['colour']}" for s in tl["shots"])
        cover.update(f"action:{s['action']}" for s in tl["shots"])
        cover.update(f"framing:{s['framing']}" for s in tl["shots"])
        cover.update(f"emotion:{e['emotion']}" for e in tl["emotions"])
        cover[f"cuts:{len(tl['cuts'])}"] += 1
        cover["emotion_changes"] += sum(len(s["emotions"]) - 1 for s in r["spec"]["shots"])
    print(f"wrote {len(rows)} held-out specs to {path} (drew {index}; checked against {len(train_prompts)} "
          f"distinct training prompts, seed {check_seed})")
    print("coverage:", dict(sorted(cover.items())))


def check_heldout(check_count: int, check_seed: int) -> int:
    held = heldout_prompts()
    train = [sample_clip(check_seed, TRAIN_NAMESPACE, i, exclude_prompts=held)[1] for i in range(check_count)]
    clash = held.intersection(train)
    print(f"held-out prompts: {len(held)}; training sample: {check_count} clips of seed {check_seed}; "
          f"identical prompt strings: {len(clash)}")
    return 1 if clash else 0


# MARK: - CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--count", type=int, help="number of random training clips")
    mode.add_argument("--from", dest="from_path", type=Path, help="render the specs in this jsonl file")
    mode.add_argument("--make-heldout", type=Path, help="write the held-out set to this path")
    mode.add_argument("--check-heldout", action="store_true",
                      help="count held-out prompts that also occur in a training sample")
    ap.add_argument("--out", type=Path, help="output folder")
    ap.add_argument("--seed", type=int, default=0, help="training seed stream (default 0)")
    ap.add_argument("--start", type=int, default=0, help="first clip index in the stream")
    ap.add_argument("--size", type=int, default=64, help="frame width and height in pixels (default 64)")
    ap.add_argument("--fps", type=float, default=8.0, help="frames per second (default 8)")
    ap.add_argument("--min-duration", type=float, default=2.0)
    ap.add_argument("--max-duration", type=float, default=8.0)
    ap.add_argument("--no-frames", action="store_true", help="write prompts.jsonl only")
    ap.add_argument("--heldout-count", type=int, default=HELDOUT_COUNT)
    ap.add_argument("--check-count", type=int, default=2000)
    args = ap.parse_args(argv)

    if args.size < 16 or args.fps <= 0:
        ap.error(f"--size must be >= 16 and --fps > 0 (got {args.size}, {args.fps})")
    if args.make_heldout is not None:
        make_heldout(args.make_heldout, args.heldout_count, args.check_count, args.seed)
        return 0
    if args.check_heldout:
        return check_heldout(args.check_count, args.seed)
    if args.out is None:
        ap.error("--out is required")

    rows = []
    if args.from_path is not None:
        for n, row in enumerate(load_jsonl(args.from_path)):
            spec = ClipSpec.from_dict(row["spec"])
            rows.append(row_for(str(row.get("id", f"clip_{n:06d}")), spec, str(row.get("prompt", "")),
                                args.size, args.fps))
    else:
        if args.count < 1:
            ap.error("--count must be positive")
        held = heldout_prompts()
        for i in range(args.start, args.start + args.count):
            spec, prompt = sample_clip(args.seed, TRAIN_NAMESPACE, i, args.min_duration, args.max_duration, held)
            rows.append(row_for(f"s{args.seed}_{i:07d}", spec, prompt, args.size, args.fps))

    args.out.mkdir(parents=True, exist_ok=True)
    total = 0
    if not args.no_frames:
        for row in rows:
            total += write_clip(args.out / f"{row['id']}.npz", ClipSpec.from_dict(row["spec"]), args.size, args.fps)
    write_jsonl(args.out / "prompts.jsonl", rows)
    print(f"wrote {len(rows)} clips ({total} frames) to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
