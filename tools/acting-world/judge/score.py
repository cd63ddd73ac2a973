#!/usr/bin/env python3
"""Scores generated acting-world clips against their intended timelines.

One clip:
    python tools/acting-world/judge/score.py CLIP --timeline TIMELINE.json [--fps 8]
A folder of clips named <id>.safetensors / <id>.npz / <id>/ (PNG frames) / <id>.mp4, with
the timelines in a jsonl file whose lines carry "id" and "timeline" (prompts.jsonl or
heldout.jsonl):
    python tools/acting-world/judge/score.py --summary DIR [--timelines FILE.jsonl] [--json OUT]

Metrics per clip:
- colour: fraction of frames whose detected character colour is the intended one;
- emotion: fraction of half-second bins whose majority predicted emotion is the intended one;
- motion: fraction of shots whose detected action (left / right by the sign of the head's
  horizontal displacement, jump by a vertical bounce of the character's top edge, otherwise
  still) is the intended one; `moving` counts the left/right/jump shots only;
- framing: fraction of shots whose majority predicted framing is the intended one;
- cuts: detected hard cuts (jumps of soft-binned colour histograms between consecutive
  frames) matched to the intended ones; a cut within +-0.5 s is correct, a missed or spurious cut is wrong, a clip
  with no cut intended and none found counts as one correct item. The error of matched cuts
  is reported in seconds.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generate import load_jsonl  # noqa: E402
from model import DEFAULT_WEIGHTS, Judge, prepare  # noqa: E402
from video_io import IMAGE_SUFFIXES, VIDEO_SUFFIXES, load_video  # noqa: E402
from world import ACTIONS, COLOUR_NAMES, EMOTIONS, FRAMINGS  # noqa: E402

BIN_SECONDS = 0.5
CUT_TOLERANCE = 0.5
EDGE_TRIM = 0.25          # seconds ignored at both ends of a shot when judging motion/framing
CUT_HIST_THRESHOLD = 0.16 # total-variation distance of 4x4x4 soft colour histograms
MOVE_THRESHOLD = 0.06     # horizontal displacement over a shot, fraction of frame width
BOUNCE_THRESHOLD = 0.06   # rise of the character's top edge, fraction of frame height


# MARK: - Timeline


def validate_timeline(tl: dict, where: str) -> dict:
    try:
        duration = float(tl["duration"])
        shots = [{"start": float(s["start"]), "end": float(s["end"]), "framing": str(s["framing"]),
                  "action": str(s["action"]), "colour": str(s["colour"])} for s in tl["shots"]]
        emotions = [{"start": float(e["start"]), "end": float(e["end"]), "emotion": str(e["emotion"])}
                    for e in tl["emotions"]]
        cuts = [float(c) for c in tl.get("cuts", [s["start"] for s in shots[1:]])]
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{where}: malformed timeline ({error!r})") from error
    if duration <= 0 or not shots or not emotions:
        raise ValueError(f"{where}: timeline needs a positive duration, shots and emotions")
    for s in shots:
        if s["framing"] not in FRAMINGS or s["action"] not in ACTIONS or s["colour"] not in COLOUR_NAMES:
            raise ValueError(f"{where}: unknown framing/action/colour in shot {s}")
    for e in emotions:
        if e["emotion"] not in EMOTIONS:
            raise ValueError(f"{where}: unknown emotion {e['emotion']!r}")
    return {"duration": duration, "shots": shots, "emotions": emotions, "cuts": cuts}


def _segment_at(segments: list[dict], t: float) -> dict | None:
    for s in segments:
        if s["start"] - 1e-9 <= t < s["end"] - 1e-9:
            return s
    return None


# MARK: - Detectors


def colour_histograms(x: torch.Tensor, bins: int = 4) -> torch.Tensor:
    """x: [F, 3, H, W] in [0, 1] → normalised joint RGB histograms [F, bins^3] with soft bins.

    Each pixel's weight is shared between the two nearest bin centres of every channel
    (trilinear), so the histogram moves in proportion to a colour change. With hard bins a
    background whose channel sits on a bin edge (sand's blue is 190/255, the edge 191.25/255)
    flips half the frame between bins when the whole picture drifts by 0.1 % -- a jump as large
    as a cut's."""
    F = x.shape[0]
    p = (x * bins - 0.5).clamp(0, bins - 1)
    lo = p.floor().long().clamp(0, bins - 1)
    hi = (lo + 1).clamp(max=bins - 1)
    w_hi = p - lo.float()
    index, weight = (lo, hi), (1 - w_hi, w_hi)
    h = torch.zeros(F, bins ** 3)
    for a in (0, 1):
        for b in (0, 1):
            for c in (0, 1):
                idx = (index[a][:, 0] * bins + index[b][:, 1]) * bins + index[c][:, 2]
                w = weight[a][:, 0] * weight[b][:, 1] * weight[c][:, 2]
                h.scatter_add_(1, idx.reshape(F, -1), w.reshape(F, -1).float())
    return h / h.sum(1, keepdim=True)


def detect_cuts(x: torch.Tensor, fps: float) -> tuple[list[float], np.ndarray]:
    """Times (s) of the first frames of new shots, and the per-transition histogram distance.

    A cut is a transition whose histogram distance exceeds the threshold and is a local
    maximum (continuous motion changes the histogram little; a new shot changes background
    and scale at once)."""
    if x.shape[0] < 2:
        return [], np.zeros(0, np.float32)
    h = colour_histograms(x)
    tv = (0.5 * (h[1:] - h[:-1]).abs().sum(1)).numpy()
    cuts = []
    for i, v in enumerate(tv):
        left = tv[i - 1] if i > 0 else 0.0
        right = tv[i + 1] if i + 1 < len(tv) else 0.0
        if v > CUT_HIST_THRESHOLD and v >= left and v > right:
            cuts.append((i + 1) / fps)
    return cuts, tv


def classify_motion(t: np.ndarray, x: np.ndarray, top: np.ndarray) -> tuple[str, float, float]:
    """Action of one shot from head-centroid x and mask top edge over time."""
    ok = np.isfinite(x) & np.isfinite(top)
    if ok.sum() < 2:
        return "missing", float("nan"), float("nan")
    t, x, top = t[ok], x[ok], top[ok]
    slope = np.polyfit(t, x, 1)[0] if np.ptp(t) > 0 else 0.0
    dx = float(slope * (t[-1] - t[0]))
    bounce = float(np.percentile(top, 90) - np.percentile(top, 5))
    if bounce > BOUNCE_THRESHOLD:
        return "jump", dx, bounce
    if abs(dx) > MOVE_THRESHOLD:
        return ("right" if dx > 0 else "left"), dx, bounce
    return "still", dx, bounce


def _majority(labels: np.ndarray, probs: np.ndarray) -> int:
    """Most frequent label; ties go to the higher mean probability."""
    counts = np.bincount(labels, minlength=probs.shape[1])
    best = np.flatnonzero(counts == counts.max())
    if len(best) == 1:
        return int(best[0])
    return int(best[np.argmax(probs.mean(0)[best])])


# MARK: - Scoring


def score_clip(judge: Judge, frames: np.ndarray, fps: float, timeline: dict, where: str = "clip") -> dict:
    tl = validate_timeline(timeline, where)
    if fps <= 0:
        raise ValueError(f"{where}: fps {fps} must be positive")
    x = prepare(frames)
    pred = judge.analyse_prepared(x)
    F = x.shape[0]
    t = np.arange(F) / fps
    inside = t < tl["duration"] - 1e-9

    # colour: every frame inside the timeline, except near a cut that changes colour
    colour_ok = colour_n = 0
    for i in np.flatnonzero(inside):
        shot = _segment_at(tl["shots"], t[i])
        if shot is None:
            continue
        near_change = any(abs(t[i] - s["start"]) < EDGE_TRIM and s["colour"] != p["colour"]
                          for p, s in zip(tl["shots"], tl["shots"][1:]))
        if near_change:
            continue
        colour_n += 1
        colour_ok += int(pred["colour"][i] == COLOUR_NAMES.index(shot["colour"]))

    # emotion: majority vote per half-second bin
    bins = []
    for b in range(int(math.ceil(tl["duration"] / BIN_SECONDS - 1e-9))):
        lo, hi = b * BIN_SECONDS, min((b + 1) * BIN_SECONDS, tl["duration"])
        seg = _segment_at(tl["emotions"], (lo + hi) / 2)
        if seg is None:
            continue
        sel = (t >= lo - 1e-9) & (t < hi - 1e-9)
        got = EMOTIONS[_majority(pred["emotion"][sel], pred["emotion_p"][sel])] if sel.any() else None
        shot = _segment_at(tl["shots"], (lo + hi) / 2)
        bins.append({"start": lo, "intended": seg["emotion"], "predicted": got,
                     "framing": shot["framing"] if shot else None, "action": shot["action"] if shot else None})

    # motion and framing per shot
    shots = []
    for s in tl["shots"]:
        trim = EDGE_TRIM if s["end"] - s["start"] > 4 * EDGE_TRIM else 0.0
        sel = (t >= s["start"] + trim - 1e-9) & (t < s["end"] - trim - 1e-9)
        action, dx, bounce = classify_motion(t[sel], pred["x"][sel], pred["top"][sel])
        framing = FRAMINGS[_majority(pred["framing"][sel], pred["framing_p"][sel])] if sel.any() else None
        shots.append({"start": s["start"], "end": s["end"], "intended_action": s["action"], "action": action,
                      "dx": round(dx, 4), "bounce": round(bounce, 4), "intended_framing": s["framing"],
                      "framing": framing})

    # cuts: greedy matching of detected to intended times
    detected, _ = detect_cuts(x[torch.as_tensor(inside)], fps)
    free = list(detected)
    errors, missed = [], 0
    for c in tl["cuts"]:
        if free:
            j = int(np.argmin([abs(d - c) for d in free]))
            if abs(free[j] - c) <= CUT_TOLERANCE:
                errors.append(free.pop(j) - c)
                continue
        missed += 1
    spurious = len(free)
    if tl["cuts"] or spurious:
        cut_ok, cut_n = len(errors), len(tl["cuts"]) + spurious
    else:
        cut_ok, cut_n = 1, 1

    emo_ok = sum(b["predicted"] == b["intended"] for b in bins)
    mot_ok = sum(s["action"] == s["intended_action"] for s in shots)
    moving = [s for s in shots if s["intended_action"] != "still"]
    mov_ok = sum(s["action"] == s["intended_action"] for s in moving)
    fr_ok = sum(s["framing"] == s["intended_framing"] for s in shots)
    counts = {"colour": (colour_ok, colour_n), "emotion": (emo_ok, len(bins)), "motion": (mot_ok, len(shots)),
              "moving": (mov_ok, len(moving)), "framing": (fr_ok, len(shots)), "cuts": (cut_ok, cut_n)}
    return {
        "frames": F, "fps": fps, "duration": tl["duration"],
        "accuracy": {k: (ok / n if n else None) for k, (ok, n) in counts.items()},
        "counts": {k: [ok, n] for k, (ok, n) in counts.items()},
        "cut_errors_s": [round(e, 4) for e in errors], "cuts_intended": tl["cuts"],
        "cuts_detected": [round(c, 4) for c in detected], "cuts_missed": missed, "cuts_spurious": spurious,
        "emotion_bins": bins, "shots": shots,
    }


# MARK: - Folder summary

METRICS = ["colour", "emotion", "motion", "moving", "framing", "cuts"]


def find_clip(folder: Path, clip_id: str) -> Path | None:
    for suffix in [".safetensors", ".npz", *sorted(VIDEO_SUFFIXES)]:
        p = folder / f"{clip_id}{suffix}"
        if p.exists():
            return p
    d = folder / clip_id
    if d.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in d.iterdir()):
        return d
    return None


def summarise(results: list[dict]) -> str:
    lines = ["| metric | correct / total | pooled accuracy | mean per clip | clips at 100% |",
             "|---|---|---|---|---|"]
    for m in METRICS:
        ok = sum(r["counts"][m][0] for r in results)
        n = sum(r["counts"][m][1] for r in results)
        per = [r["accuracy"][m] for r in results if r["accuracy"][m] is not None]
        perfect = sum(1 for a in per if a == 1.0)
        lines.append(f"| {m} | {ok} / {n} | {ok / n * 100:.1f}% | {np.mean(per) * 100:.1f}% | {perfect} / {len(per)} |"
                     if n else f"| {m} | 0 / 0 | - | - | - |")
    errs = [abs(e) for r in results for e in r["cut_errors_s"]]
    missed = sum(r["cuts_missed"] for r in results)
    spurious = sum(r["cuts_spurious"] for r in results)
    lines.append("")
    lines.append(f"clips: {len(results)}; matched cuts: {len(errs)}, mean |cut time error| "
                 f"{(np.mean(errs) if errs else float('nan')):.3f} s, max {(max(errs) if errs else float('nan')):.3f} s; "
                 f"missed cuts: {missed}; spurious cuts: {spurious}")
    lines += ["", "Emotion timeline by intended emotion, framing and action (correct / half-seconds):", "",
              emotion_breakdown(results)]
    return "\n".join(lines)


EMOTION_GROUPS = [("close-up, still", "closeup", False), ("close-up, moving", "closeup", True),
                  ("wide, still", "wide", False), ("wide, moving", "wide", True)]


def emotion_breakdown(results: list[dict]) -> str:
    """A table of the emotion bins of every clip: one row per intended emotion, one column per
    framing and still/moving shot (left, right or jump), as `correct / total (accuracy)`."""
    def cell(bins: list[dict]) -> str:
        ok = sum(b["predicted"] == b["intended"] for b in bins)
        return f"{ok} / {len(bins)} ({ok / len(bins) * 100:.0f}%)" if bins else "-"

    every = [b for r in results for b in r["emotion_bins"]]
    lines = ["| intended | " + " | ".join(name for name, _, _ in EMOTION_GROUPS) + " | all |",
             "|---" * (len(EMOTION_GROUPS) + 2) + "|"]
    for emotion in [*EMOTIONS, None]:
        rows = [b for b in every if emotion is None or b["intended"] == emotion]
        cells = [cell([b for b in rows if b.get("framing") == framing and (b.get("action") != "still") == moving])
                 for _, framing, moving in EMOTION_GROUPS]
        lines.append(f"| {emotion or 'all'} | " + " | ".join(cells) + f" | {cell(rows)} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("clip", nargs="?", type=Path, help="one clip (.safetensors, .npz, PNG folder, .mp4)")
    ap.add_argument("--timeline", type=Path, help="timeline JSON for a single clip (or a jsonl row with 'timeline')")
    ap.add_argument("--summary", type=Path, help="score every clip listed in --timelines found in this folder")
    ap.add_argument("--timelines", type=Path, help="jsonl with 'id' and 'timeline' (default: DIR/prompts.jsonl)")
    ap.add_argument("--fps", type=float, help="frame rate when the clip does not store one (default 8)")
    ap.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    ap.add_argument("--json", type=Path, help="write the per-clip results here")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--control", action="store_true",
                    help="negative control: score each clip against the NEXT clip's timeline (expect low numbers)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    try:
        judge = Judge.load(args.weights)
        results = []
        if args.summary is not None:
            tl_path = args.timelines or args.summary / "prompts.jsonl"
            rows = load_jsonl(tl_path)
            missing = []
            for n, row in enumerate(rows, 1):
                if not isinstance(row, dict) or "id" not in row or "timeline" not in row:
                    raise ValueError(f"{tl_path}:{n}: each line needs 'id' and 'timeline'")
            timelines = [row["timeline"] for row in rows]
            if args.control:
                timelines = timelines[1:] + timelines[:1]
            for row, timeline in zip(rows, timelines):
                clip = find_clip(args.summary, str(row["id"]))
                if clip is None:
                    missing.append(str(row["id"]))
                    continue
                frames, fps = load_video(clip)
                r = score_clip(judge, frames, args.fps or fps or 8.0, timeline, str(clip))
                r["id"] = row["id"]
                results.append(r)
            if not results:
                raise ValueError(f"{args.summary}: none of the {len(rows)} clips in {tl_path} was found")
            print(summarise(results))
            if missing:
                print(f"not found in {args.summary}: {len(missing)} clips ({', '.join(missing[:5])}"
                      f"{', ...' if len(missing) > 5 else ''})")
        else:
            if args.clip is None or args.timeline is None:
                ap.error("give CLIP and --timeline, or --summary DIR")
            try:
                tl = json.loads(args.timeline.read_text(encoding="utf-8"))
            except json.JSONDecodeError as error:
                raise ValueError(f"{args.timeline}: not a JSON timeline ({error})") from error
            if not isinstance(tl, dict):
                raise ValueError(f"{args.timeline}: expected a JSON object")
            tl = tl.get("timeline", tl)
            frames, fps = load_video(args.clip)
            r = score_clip(judge, frames, args.fps or fps or 8.0, tl, str(args.clip))
            results.append(r)
            print(json.dumps({k: r[k] for k in ("frames", "fps", "accuracy", "cuts_intended", "cuts_detected",
                                                "cut_errors_s")}, indent=1))
        if args.json is not None:
            tmp = args.json.with_name(args.json.name + ".tmp")
            tmp.write_text(json.dumps(results, indent=1))
            tmp.replace(args.json)
    except (ValueError, FileNotFoundError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
