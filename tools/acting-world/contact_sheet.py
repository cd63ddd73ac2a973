#!/usr/bin/env python3
"""Writes a contact sheet PNG: the five emotions in both framings, then frames from a few
held-out clips with their per-frame labels and prompts.

    python tools/acting-world/contact_sheet.py --out docs/acting-world-samples.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, str(Path(__file__).resolve().parent))

from generate import HELDOUT_PATH, atomic_write_bytes, load_jsonl  # noqa: E402
from world import (ACTIONS, EMOTIONS, FRAMINGS, CharacterState, ClipSpec, emotion_params,  # noqa: E402
                   render_clip, render_state)

BG = (255, 255, 255)
INK = (40, 40, 40)


def _font(size: int) -> ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType support
        return ImageFont.load_default()


def emotion_row(size: int, colour: str, framing: str, background: str) -> list[np.ndarray]:
    return [render_state(CharacterState(colour=colour, framing=framing, background=background, x=0.5, lift=0.0,
                                        walk_phase=0.0, walking=0.0, facing=0.0, airborne=0.0,
                                        face=emotion_params({e: 1.0})), size)
            for e in EMOTIONS]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--size", type=int, default=64, help="render size of every frame (default 64)")
    ap.add_argument("--scale", type=int, default=2, help="pixel repeat factor for display (default 2)")
    ap.add_argument("--clips", default="heldout_008,heldout_022,heldout_030,heldout_046,heldout_063,heldout_067",
                    help="comma-separated held-out ids")
    ap.add_argument("--columns", type=int, default=10)
    args = ap.parse_args(argv)

    rows_by_id = {r["id"]: r for r in load_jsonl(HELDOUT_PATH)}
    ids = [i for i in args.clips.split(",") if i]
    unknown = [i for i in ids if i not in rows_by_id]
    if unknown:
        raise SystemExit(f"unknown held-out ids: {unknown}")

    tile = args.size * args.scale
    label_h = 14
    prompt_h = 30
    cols = max(args.columns, 2 * len(EMOTIONS))
    font = _font(11)
    blocks: list[Image.Image] = []

    # legend: five emotions, close-up and wide, two colours
    legend = Image.new("RGB", (cols * tile, 2 * (tile + label_h) + 18), BG)
    d = ImageDraw.Draw(legend)
    d.text((4, 2), "Emotions (neutral, happy, sad, angry, surprised), close-up and wide, "
           f"{args.size}x{args.size} px shown at {args.scale}x", fill=INK, font=font)
    for r, (colour, bg) in enumerate((("blue", "white"), ("orange", "outdoor"))):
        frames = emotion_row(args.size, colour, "closeup", bg) + emotion_row(args.size, colour, "wide", bg)
        for c, f in enumerate(frames):
            x, y = c * tile, 18 + r * (tile + label_h)
            legend.paste(Image.fromarray(f).resize((tile, tile), Image.NEAREST), (x, y))
            d.text((x + 3, y + tile), EMOTIONS[c % len(EMOTIONS)], fill=INK, font=font)
    blocks.append(legend)

    for clip_id in ids:
        row = rows_by_id[clip_id]
        spec = ClipSpec.from_dict(row["spec"])
        frames, labels = render_clip(spec, size=args.size)
        picks = np.linspace(0, len(frames) - 1, args.columns).round().astype(int)
        block = Image.new("RGB", (cols * tile, prompt_h + tile + label_h), BG)
        d = ImageDraw.Draw(block)
        words, lines, line = row["prompt"].split(), [], ""
        for w in words:
            if len(line) + len(w) + 1 > 180:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        lines.append(line)
        d.text((4, 2), f"{clip_id}: " + lines[0], fill=INK, font=font)
        if len(lines) > 1:
            d.text((4, 15), " ".join(lines[1:]), fill=INK, font=font)
        for c, i in enumerate(picks):
            x = c * tile
            block.paste(Image.fromarray(frames[i]).resize((tile, tile), Image.NEAREST), (x, prompt_h))
            cut = "CUT " if labels["is_cut"][i] else ""
            text = (f"{cut}{labels['time'][i]:.1f}s {EMOTIONS[labels['emotion'][i]][:4]} "
                    f"{ACTIONS[labels['action'][i]][:4]} {FRAMINGS[labels['framing'][i]][:2]}")
            d.text((x + 2, prompt_h + tile), text, fill=(200, 30, 30) if cut else INK, font=_font(9))
        blocks.append(block)

    sheet = Image.new("RGB", (cols * tile, sum(b.height + 6 for b in blocks)), BG)
    y = 0
    for b in blocks:
        sheet.paste(b, (0, y))
        y += b.height + 6
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, lambda f: sheet.save(f, format="PNG", optimize=True))
    print(f"wrote {args.out} ({sheet.width}x{sheet.height}, {args.out.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
