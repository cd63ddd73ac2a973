#!/usr/bin/env python3
"""Sample clips of a model for the docs: MP4s from the Swift engine and a PNG contact sheet that
puts each generated clip under the acting world's rendering of what its prompt asks for.

    python tools/acting-world/sample_sheet.py --out docs/kinema-tiny \
        [--model models/kinema-tiny] [--clips heldout_008,heldout_030] [--seed 0] [--shots] [--beats] [--image]

For every held-out id it runs `kinema generate` twice with the same seed (an MP4 for people and
a .safetensors of the same frames for the sheet; the engine is deterministic), then writes
`<out>/<id>.mp4` and `<out>/samples.png`: per clip the prompt, a row "intended" (the
generator's frames of the spec, with per-frame labels) and a row "generated", one frame every
half second. With `--shots` each clip is also generated shot by shot, with the per-shot prompts
of `eval_tiny.py --shots`, into `<out>/<id>-shots.mp4` and a third row "shot by shot"; with
`--beats` also with the beats of `eval_tiny.py --beats`, into `<out>/<id>-beats.mp4` and a row
"with beats"; with `--image` also from one prompt starting from the world's first frame
(`eval_tiny.py --image`, `kinema generate --image`), into `<out>/<id>-image.mp4` and a row "from
image".
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "judge"))

from contact_sheet import BG, INK, _font  # noqa: E402
from eval_tiny import first_frame_png, row_shots, shot_options  # noqa: E402
from generate import HELDOUT_PATH, atomic_write_bytes, load_jsonl  # noqa: E402
from video_io import load_video  # noqa: E402
from world import ACTIONS, EMOTIONS, FRAMINGS, ClipSpec, render_clip  # noqa: E402

DEFAULT_CLIPS = "heldout_000,heldout_008,heldout_022,heldout_030,heldout_046,heldout_063"


def run_kinema(args, row: dict, seed: int, output: Path, shots: list | None = None,
               image: Path | None = None) -> None:
    cmd = [str(args.kinema), "generate", "--model", str(args.model)]
    if shots:
        cmd += shot_options(shots)
    else:
        cmd += ["--prompt", row["prompt"], "--duration", f"{float(row['spec']['duration']):g}"]
    if image is not None:
        cmd += ["--image", str(image)]
    cmd += ["--seed", str(seed), "--output", str(output)]
    done = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise SystemExit(f"kinema failed on {row['id']} (exit {done.returncode}):\n{done.stdout}")


def wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) + 1 > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + [line]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True, help="folder for the MP4s and samples.png")
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "kinema-tiny")
    ap.add_argument("--kinema", type=Path, default=ROOT / ".build" / "release" / "kinema")
    ap.add_argument("--clips", default=DEFAULT_CLIPS, help="comma-separated held-out ids")
    ap.add_argument("--seed", type=int, default=0, help="seed of every clip (eval_tiny uses seed + row index)")
    ap.add_argument("--same-seeds-as-eval", action="store_true",
                    help="use eval_tiny.py's seed for each row (its index in heldout.jsonl + --seed)")
    ap.add_argument("--shots", action="store_true", help="add each clip generated shot by shot (eval_tiny.py --shots)")
    ap.add_argument("--beats", action="store_true", help="add each clip generated with beats (eval_tiny.py --beats)")
    ap.add_argument("--image", action="store_true",
                    help="add each clip from one prompt, starting from the world's first frame (eval_tiny.py --image)")
    ap.add_argument("--scale", type=int, default=2)
    args = ap.parse_args(argv)

    rows = load_jsonl(HELDOUT_PATH)
    index = {r["id"]: n for n, r in enumerate(rows)}
    ids = [i for i in args.clips.split(",") if i]
    unknown = [i for i in ids if i not in index]
    if unknown:
        raise SystemExit(f"unknown held-out ids: {unknown}")
    args.out.mkdir(parents=True, exist_ok=True)

    tile = 64 * args.scale
    label_h, prompt_line = 13, 13
    font, small = _font(11), _font(9)
    blocks = []
    with tempfile.TemporaryDirectory() as tmp:
        for clip_id in ids:
            row = rows[index[clip_id]]
            seed = args.seed + (index[clip_id] if args.same_seeds_as_eval else 0)
            run_kinema(args, row, seed, args.out / f"{clip_id}.mp4")
            raw = Path(tmp) / f"{clip_id}.safetensors"
            run_kinema(args, row, seed, raw)
            generated, fps = load_video(raw)
            fps = fps or 8.0
            rows_out = [("generated", generated)]
            for wanted, beats, suffix, name in ((args.shots, False, "shots", "shot by shot"),
                                                (args.beats, True, "beats", "with beats")):
                if not wanted:
                    continue
                shots = row_shots(row, index[clip_id], beats=beats)
                run_kinema(args, row, seed, args.out / f"{clip_id}-{suffix}.mp4", shots)
                raw = Path(tmp) / f"{clip_id}-{suffix}.safetensors"
                run_kinema(args, row, seed, raw, shots)
                rows_out.append((name, load_video(raw)[0]))
            if args.image:
                first = first_frame_png(row, Path(tmp) / f"{clip_id}-first.png")
                run_kinema(args, row, seed, args.out / f"{clip_id}-image.mp4", image=first)
                raw = Path(tmp) / f"{clip_id}-image.safetensors"
                run_kinema(args, row, seed, raw, image=first)
                rows_out.append(("from image", load_video(raw)[0]))
            spec = ClipSpec.from_dict(row["spec"])
            intended, labels = render_clip(spec, size=64, fps=fps)
            step = max(1, int(round(fps / 2)))
            picks = list(range(0, min([len(intended)] + [len(v) for _, v in rows_out]), step))
            lines = wrap(f"{clip_id} (seed {seed}): {row['prompt']}", 20 * len(picks) // 1 + 40)
            height = len(lines) * prompt_line + 4 + (1 + len(rows_out)) * (tile + label_h)
            block = Image.new("RGB", (72 + len(picks) * tile, height), BG)
            d = ImageDraw.Draw(block)
            for n, line in enumerate(lines):
                d.text((4, 2 + n * prompt_line), line, fill=INK, font=font)
            top = len(lines) * prompt_line + 4
            d.text((4, top + tile // 2), "intended", fill=INK, font=font)
            for r, (name, _) in enumerate(rows_out, 1):
                for n, word in enumerate(name.split(" ", 1) if " " in name else [name]):
                    d.text((4, top + r * (tile + label_h) + tile // 2 + n * 12), word, fill=INK, font=font)
            for c, i in enumerate(picks):
                x = 72 + c * tile
                block.paste(Image.fromarray(intended[i]).resize((tile, tile), Image.NEAREST), (x, top))
                cut = "CUT " if labels["is_cut"][i] else ""
                text = (f"{cut}{labels['time'][i]:.1f}s {EMOTIONS[labels['emotion'][i]][:4]} "
                        f"{ACTIONS[labels['action'][i]][:4]} {FRAMINGS[labels['framing'][i]][:2]}")
                d.text((x + 2, top + tile), text, fill=(200, 30, 30) if cut else INK, font=small)
                for r, (_, video) in enumerate(rows_out, 1):
                    g = (np.clip(video[i], 0, 1) * 255).round().astype(np.uint8)
                    block.paste(Image.fromarray(g).resize((tile, tile), Image.NEAREST), (x, top + r * (tile + label_h)))
            blocks.append(block)
            print(f"{clip_id}: {len(generated)} frames -> {args.out / (clip_id + '.mp4')}", flush=True)

    width = max(b.width for b in blocks)
    sheet = Image.new("RGB", (width, sum(b.height + 8 for b in blocks)), BG)
    y = 0
    for b in blocks:
        sheet.paste(b, (0, y))
        y += b.height + 8
    target = args.out / "samples.png"
    atomic_write_bytes(target, lambda f: sheet.save(f, format="PNG", optimize=True))
    print(f"contact sheet: {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
