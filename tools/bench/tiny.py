#!/usr/bin/env python3
"""Kinema-Tiny end to end: a clip from one prompt with the `kinema` program (the Swift engine)
beside diffusers' WanPipeline on the CPU, with the model's recommended settings (kinema.json),
the same prompt, size, frame count, steps and guidance. The two engines take turns, run after
run, so that both see the same machine; medians of the runs and their ratio are printed.

    python tools/bench/tiny.py [--model models/kinema-tiny] [--duration 5] [--runs 5]
                               [--threads 2] [--busy N]

Kinema's time is the generation total the program reports (text, denoising, decoding and
writing the MP4; model loading and process start excluded), diffusers' the `pipe(...)` call
(text, denoising, decoding to frames in memory) on a pipeline loaded once. --busy N keeps N
other processes spinning on the CPU during the runs, as on a machine that is doing other work.
Run from the repository root with the virtualenv of tools/reference/setup-venv.sh, after
`swift build -c release`.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
PROMPT = "A close-up of a red character standing still, smiling."


def spin() -> None:
    while True:
        pass


def kinema_run(args: argparse.Namespace, frames: int, out: Path) -> float:
    cmd = [str(args.kinema), "generate", "--model", str(args.model), "--prompt", PROMPT, "--frames", str(frames),
           "--seed", "1", "--threads", str(args.threads), "--output", str(out)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kinema failed (exit {done.returncode}):\n{done.stdout}")
    found = re.search(r"^time: .* total ([0-9.]+) s", done.stdout, re.MULTILINE)
    if found is None:
        raise SystemExit(f"kinema printed no timing line:\n{done.stdout}")
    return float(found.group(1))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "kinema-tiny")
    ap.add_argument("--kinema", type=Path, default=ROOT / ".build" / "release" / "kinema")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds of video (rounded to the VAE's frame counts, 4k+1)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="threads of each engine")
    ap.add_argument("--busy", type=int, default=0, help="processes spinning on the CPU during the runs")
    args = ap.parse_args(argv)
    if args.runs < 1 or args.threads < 1 or args.busy < 0:
        raise SystemExit("--runs and --threads must be at least 1, --busy at least 0")
    if not args.kinema.exists():
        raise SystemExit(f"{args.kinema}: not built; run `swift build -c release` first")

    import torch
    from diffusers import WanPipeline

    torch.set_num_threads(args.threads)
    settings = json.loads((args.model / "kinema.json").read_text(encoding="utf-8"))
    fps = float(settings["fps"])
    pipe = WanPipeline.from_pretrained(str(args.model), dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    temporal = int(pipe.vae.config.scale_factor_temporal)
    frames = temporal * round(args.duration * fps / temporal) + 1

    def torch_run() -> float:
        start = time.perf_counter()
        with torch.no_grad():
            pipe(prompt=PROMPT, negative_prompt=settings.get("negative_prompt", ""), height=int(settings["height"]),
                 width=int(settings["width"]), num_frames=frames, num_inference_steps=int(settings["steps"]),
                 guidance_scale=float(settings["guidance"]), generator=torch.Generator().manual_seed(1),
                 output_type="np")
        return time.perf_counter() - start

    spinners = [mp.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    seconds = {"kinema": [], "torch": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "clip.mp4"
            kinema_run(args, frames, out)  # warm-up: page cache, first-run allocations
            torch_run()
            for r in range(args.runs):
                # alternate which engine goes first
                order = [("kinema", lambda: kinema_run(args, frames, out)), ("torch", torch_run)]
                for name, run in order if r % 2 == 0 else order[::-1]:
                    seconds[name].append(run())
                    print(f"run {r + 1}: {name} {seconds[name][-1]:.2f} s", flush=True)
    finally:
        for p in spinners:
            p.terminate()
    kinema_s, torch_s = seconds["kinema"], seconds["torch"]
    k, t = statistics.median(kinema_s), statistics.median(torch_s)
    print(f"Kinema-Tiny, {frames} frames ({frames / fps:.2f} s) at {settings['width']}x{settings['height']}, "
          f"{settings['steps']} steps, guidance {settings['guidance']}, {args.threads} threads each, "
          f"{args.busy} busy processes beside")
    print(f"Kinema   median {k:.2f} s over {args.runs} runs ({min(kinema_s):.2f}-{max(kinema_s):.2f})")
    print(f"diffusers median {t:.2f} s over {args.runs} runs ({min(torch_s):.2f}-{max(torch_s):.2f})")
    print(f"ratio {k / t:.2f} (Kinema / diffusers)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
