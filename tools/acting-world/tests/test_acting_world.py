"""Tests for the acting-world generator, prompts, held-out set, video reading and judge.

    python -m unittest discover -s tools/acting-world/tests -v
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "judge"))

from generate import (HELDOUT_PATH, TRAIN_NAMESPACE, load_jsonl, sample_clip)  # noqa: E402
from prompts import (COLOUR_WORDS, beat_prompts, sample_spec, shot_prompts,  # noqa: E402
                     shot_spec, spec_to_prompt, spec_to_timeline)
from world import (ACTIONS, COLOUR_NAMES, EMOTIONS, FRAMINGS, ClipSpec, EmotionEvent, Shot,  # noqa: E402
                   face_masks, render_clip)

try:
    import torch  # noqa: F401
    HAVE_TORCH = True
except ImportError:
    HAVE_TORCH = False


def two_shot_spec() -> ClipSpec:
    return ClipSpec(colour="green", duration=4.0, shots=[
        Shot(start=0.0, end=2.0, framing="closeup", action="left", background="white",
             emotions=[EmotionEvent(0.0, "angry"), EmotionEvent(1.0, "happy")], x_start=0.6, x_end=0.4),
        Shot(start=2.0, end=4.0, framing="wide", action="jump", background="dark",
             emotions=[EmotionEvent(2.0, "sad")], x_start=0.5, x_end=0.5),
    ])


class SpecTests(unittest.TestCase):
    def test_round_trip(self):
        rng = np.random.default_rng(3)
        for _ in range(50):
            spec = sample_spec(rng, float(rng.choice([2.0, 4.5, 8.0])))
            again = ClipSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
            self.assertEqual(again.to_dict(), spec.to_dict())

    def test_rejects_bad_specs(self):
        d = two_shot_spec().to_dict()
        bad_colour = json.loads(json.dumps(d))
        bad_colour["colour"] = "pink"
        with self.assertRaisesRegex(ValueError, "colour"):
            ClipSpec.from_dict(bad_colour)
        gap = json.loads(json.dumps(d))
        gap["shots"][1]["start"] = 2.5
        gap["shots"][1]["emotions"][0]["time"] = 2.5
        with self.assertRaisesRegex(ValueError, "shot 1"):
            ClipSpec.from_dict(gap)
        late = json.loads(json.dumps(d))
        late["shots"][0]["emotions"][1]["time"] = 2.0
        with self.assertRaisesRegex(ValueError, "emotion event"):
            ClipSpec.from_dict(late)
        missing = json.loads(json.dumps(d))
        del missing["shots"][0]["framing"]
        with self.assertRaisesRegex(ValueError, "malformed"):
            ClipSpec.from_dict(missing)


class RenderTests(unittest.TestCase):
    def test_labels_follow_the_spec(self):
        frames, lab = render_clip(two_shot_spec(), size=64, fps=8)
        self.assertEqual(frames.shape, (32, 64, 64, 3))
        self.assertEqual(frames.dtype, np.uint8)
        self.assertEqual(np.flatnonzero(lab["is_cut"]).tolist(), [16])
        self.assertEqual(lab["shot"].tolist(), [0] * 16 + [1] * 16)
        emo = [EMOTIONS[i] for i in lab["emotion"]]
        # change at 1.0 s with a 0.25 s transition centred there: frame 8 (1.0 s) is half-way
        self.assertEqual(emo[:8], ["angry"] * 8)
        self.assertEqual(emo[8:16], ["happy"] * 8)
        self.assertEqual(emo[16:], ["sad"] * 16)
        self.assertTrue(np.all(np.diff(lab["x"][:16]) < 0), "moving left must decrease x")
        self.assertAlmostEqual(float(lab["x"][0]), 0.6, places=5)
        self.assertEqual(set(lab["colour"].tolist()), {COLOUR_NAMES.index("green")})
        self.assertEqual(lab["framing"].tolist(), [0] * 16 + [1] * 16)
        self.assertEqual(set(lab["action"].tolist()), {ACTIONS.index("left"), ACTIONS.index("jump")})
        jump_y = lab["y"][16:]
        self.assertGreater(float(jump_y.max() - jump_y.min()), 0.15, "jumps must lift the head")
        # the hard cut changes the picture far more than any in-shot step
        diffs = np.abs(np.diff(frames.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))
        self.assertEqual(int(np.argmax(diffs)) + 1, 16)

    def test_face_masks_hold_every_pixel_an_emotion_changes(self):
        spec = two_shot_spec()
        plain = ClipSpec.from_dict(spec.to_dict())
        for shot in plain.shots:
            shot.emotions = [EmotionEvent(shot.start, "neutral")]
        for size in (64, 96):
            frames, _ = render_clip(spec, size=size, fps=8)
            neutral, _ = render_clip(plain, size=size, fps=8)
            masks = face_masks(spec, size=size, fps=8)
            self.assertEqual(masks.shape, frames.shape[:3])
            changed = np.abs(frames.astype(np.int16) - neutral).max(axis=3) > 0
            self.assertGreater(int(changed.sum()), 100 * len(frames), "emotions must change the face")
            self.assertFalse(np.any(changed & ~masks), "an emotion changed a pixel outside the mask")
            # the mask is the head, not the frame: a close-up head is about 4x a wide one
            area = masks.reshape(len(masks), -1).mean(axis=1)
            self.assertTrue(0.3 < area[:16].mean() < 0.6 and 0.08 < area[16:].mean() < 0.15, area)
        with self.assertRaisesRegex(ValueError, "too small"):
            face_masks(spec, size=8)

    def test_other_sizes_and_rates(self):
        spec = two_shot_spec()
        for size in (96, 128):
            frames, lab = render_clip(spec, size=size, fps=8)
            self.assertEqual(frames.shape, (32, size, size, 3))
        frames, lab = render_clip(spec, size=64, fps=16)
        self.assertEqual(frames.shape[0], 64)
        self.assertEqual(np.flatnonzero(lab["is_cut"]).tolist(), [32])

    def test_deterministic(self):
        a = sample_clip(5, TRAIN_NAMESPACE, 17)
        b = sample_clip(5, TRAIN_NAMESPACE, 17)
        self.assertEqual(a[1], b[1])
        self.assertEqual(a[0].to_dict(), b[0].to_dict())
        fa, _ = render_clip(a[0])
        fb, _ = render_clip(b[0])
        self.assertTrue(np.array_equal(fa, fb))


class PromptTests(unittest.TestCase):
    def test_prompts_state_colour_and_every_event_time(self):
        rng = np.random.default_rng(11)
        for _ in range(300):
            spec = sample_spec(rng, float(rng.choice(np.arange(2.0, 8.01, 0.5))))
            prompt = spec_to_prompt(spec, rng)
            self.assertTrue(prompt.endswith("."), prompt)
            words = set(re.findall(r"[a-z]+", prompt.lower()))
            self.assertTrue(words & set(COLOUR_WORDS[spec.colour]), prompt)
            events = {s.start for s in spec.shots[1:]} | {e.time for s in spec.shots for e in s.emotions[1:]}
            numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", prompt)}
            self.assertEqual(numbers, events, prompt)
            tl = spec_to_timeline(spec)
            self.assertEqual(tl["cuts"], [s.start for s in spec.shots[1:]])
            covered = sum(e["end"] - e["start"] for e in tl["emotions"])
            self.assertAlmostEqual(covered, spec.duration)

    def test_emotion_word_prompts_speak_the_prompt_language(self):
        """emotion_words.py: one prompt per emotion, differing only in the emotion word, each word
        one the templates use."""
        import emotion_words
        from prompts import vocabulary
        prompts = [emotion_words.prompt_for(e) for e in EMOTIONS]
        self.assertEqual(len(set(prompts)), len(EMOTIONS))
        known = set(vocabulary()) | {"close-up", "standing", "still", "A", "blue"}
        for prompt in prompts:
            words = prompt.rstrip(".").replace(",", "").split()
            self.assertTrue(set(words) <= known, set(words) - known)
            self.assertEqual(prompt.replace(words[-1], "WORD"), prompts[0].replace(prompts[0].rstrip(".").split()[-1], "WORD"))

    def test_emotion_word_clips_are_generated_from_one_prompt(self):
        """emotion_words.py hands eval_tiny.generate what it reads: each clip is one --prompt of
        2 s with seeds 1..N, not shot by shot."""
        import argparse
        import emotion_words
        import eval_tiny
        args = argparse.Namespace(out=Path("out"), kinema=Path("kinema"), model=Path("m"), threads=2)
        gen = emotion_words.generation_args(args)
        row = {"id": "sad-2", "prompt": emotion_words.prompt_for("sad"), "spec": {"duration": 2.0}}
        cmd = eval_tiny.kinema_command(gen, row, 1, Path("o.safetensors"))
        self.assertEqual(cmd[cmd.index("--prompt") + 1], row["prompt"])
        self.assertEqual(cmd[cmd.index("--duration") + 1], "2")
        self.assertEqual(cmd[cmd.index("--seed") + 1], "2")
        self.assertNotIn("--shot", cmd)
        self.assertEqual([emotion_words.colour_for(s, "blue") for s in (1, 2)], ["blue", "blue"])
        cycled = [emotion_words.colour_for(s, "all") for s in range(1, 2 * len(COLOUR_NAMES) + 1)]
        self.assertEqual(cycled, COLOUR_NAMES * 2)

    def test_shot_prompts_describe_each_shot_alone(self):
        """Each shot as a clip of its own renders the very frames of that shot in the whole clip,
        and its prompt states its colour and its events' times counted from the shot's start."""
        spec = two_shot_spec()
        spec.shots[1].colour = "red"
        spec.shots[1].emotions.append(EmotionEvent(3.5, "surprised"))
        shots = shot_prompts(spec, np.random.default_rng(3))
        self.assertEqual([t for _, t in shots], [2.0, 2.0])
        whole, _ = render_clip(spec, size=32, fps=8)
        for k, (prompt, _) in enumerate(shots):
            alone = shot_spec(spec, k)
            self.assertEqual(alone.colour, spec.shot_colour(spec.shots[k]))
            self.assertEqual(spec_to_prompt(alone, np.random.default_rng(5)).count("cut"), 0)
            words = set(re.findall(r"[a-z]+", prompt.lower()))
            self.assertTrue(words & set(COLOUR_WORDS[alone.colour]), prompt)
            numbers = {float(n) for n in re.findall(r"\d+(?:\.\d+)?", prompt)}
            self.assertEqual(numbers, {1.0} if k == 0 else {1.5}, prompt)
            frames, _ = render_clip(alone, size=32, fps=8)
            np.testing.assert_array_equal(frames[:16], whole[16 * k:16 * (k + 1)], err_msg=f"shot {k}")
        one = ClipSpec(colour="blue", duration=2.5, shots=[spec.shots[0]])
        one.shots[0].end = 2.5
        self.assertEqual(len(shot_prompts(one, np.random.default_rng(0))), 1)

    def test_beat_prompts_hold_one_emotion_each(self):
        """One prompt per emotion of a shot, none with a time in it, each with the shot's colour,
        and a beat at each change counted from the shot's start."""
        spec = two_shot_spec()
        spec.shots[1].emotions.append(EmotionEvent(3.5, "surprised"))
        for k, expected in ((0, ["angry", "happy"]), (1, ["sad", "surprised"])):
            first, beats = beat_prompts(spec, k, np.random.default_rng(k))
            self.assertEqual([t for t, _ in beats], [1.0] if k == 0 else [1.5])
            for prompt in [first] + [p for _, p in beats]:
                self.assertIsNone(re.search(r"\d", prompt), prompt)
                self.assertTrue(set(re.findall(r"[a-z]+", prompt.lower())) & set(COLOUR_WORDS["green"]), prompt)
            self.assertEqual(len(beats), len(expected) - 1)
        # a shot without a change has no beats
        one = ClipSpec(colour="blue", duration=2.0, shots=[spec.shots[0]])
        one.shots[0].end, one.shots[0].emotions = 2.0, [EmotionEvent(0.0, "happy")]
        self.assertEqual(beat_prompts(one, 0, np.random.default_rng(0))[1], [])

    def test_spec_grid_rules(self):
        rng = np.random.default_rng(12)
        for _ in range(300):
            spec = sample_spec(rng, float(rng.choice(np.arange(2.0, 8.01, 0.5))))
            for s in spec.shots:
                self.assertGreaterEqual(s.end - s.start, 1.5)
                for e in s.emotions[1:]:
                    self.assertEqual(e.time * 2, round(e.time * 2))
                    self.assertLessEqual(e.time, s.end - 1.0)
            for a, b in zip(spec.shots, spec.shots[1:]):
                self.assertNotEqual(a.background, b.background)


class HeldoutTests(unittest.TestCase):
    def test_heldout_is_valid_and_disjoint(self):
        rows = load_jsonl(HELDOUT_PATH)
        self.assertGreaterEqual(len(rows), 60)
        self.assertEqual(len({r["id"] for r in rows}), len(rows))
        prompts = {r["prompt"] for r in rows}
        self.assertEqual(len(prompts), len(rows))
        for r in rows:
            spec = ClipSpec.from_dict(r["spec"])
            self.assertEqual(r["timeline"], json.loads(json.dumps(spec_to_timeline(spec))))
        # the raw training stream (no exclusion) shares no prompt with the held-out set
        train = {sample_clip(0, TRAIN_NAMESPACE, i)[1] for i in range(2000)}
        self.assertEqual(prompts & train, set())
        seen = {f"{k}:{v}" for r in rows for s in r["timeline"]["shots"]
                for k, v in s.items() if k in ("colour", "action", "framing")}
        seen |= {f"emotion:{e['emotion']}" for r in rows for e in r["timeline"]["emotions"]}
        expected = {f"colour:{c}" for c in COLOUR_NAMES} | {f"action:{a}" for a in ACTIONS} | \
            {f"framing:{f}" for f in FRAMINGS} | {f"emotion:{e}" for e in EMOTIONS}
        self.assertEqual(seen, expected)


@unittest.skipUnless(HAVE_TORCH, "torch not installed")
class JudgeTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from model import DEFAULT_WEIGHTS, Judge
        if not DEFAULT_WEIGHTS.exists():
            raise unittest.SkipTest("judge.pt not trained")
        cls.judge = Judge.load(DEFAULT_WEIGHTS)

    def test_video_forms_read_back(self):
        from PIL import Image
        from safetensors.numpy import save_file
        from video_io import load_video

        frames, _ = render_clip(two_shot_spec(), size=64, fps=8)
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            video = frames.astype(np.float32) / 255.0
            save_file({"video": video}, str(tmp / "a.safetensors"), metadata={"fps": "8"})
            got, fps = load_video(tmp / "a.safetensors")
            self.assertEqual(fps, 8.0)
            self.assertTrue(np.array_equal(got, video))
            (tmp / "png").mkdir()
            for i, f in enumerate(frames):
                Image.fromarray(f).save(tmp / "png" / f"{i:04d}.png")
            got, fps = load_video(tmp / "png")
            self.assertIsNone(fps)
            self.assertTrue(np.array_equal(got, video))
            save_file({"frames": video}, str(tmp / "b.safetensors"))
            with self.assertRaisesRegex(ValueError, "video"):
                load_video(tmp / "b.safetensors")
            save_file({"video": video[..., :2].copy()}, str(tmp / "c.safetensors"))
            with self.assertRaisesRegex(ValueError, "F, H, W, 3"):
                load_video(tmp / "c.safetensors")

    def test_cuts_survive_colour_drift_on_a_bin_edge(self):
        """A whole-frame drift of 0.6 % (every other frame) on the sand background, whose blue sits
        on a histogram bin edge, is no cut; the cut of a two-shot clip drifting the same way is
        still found, on its frame."""
        import torch
        from score import colour_histograms, detect_cuts

        still = ClipSpec(colour="red", duration=2.0, shots=[
            Shot(start=0.0, end=2.0, framing="wide", action="still", background="sand",
                 emotions=[EmotionEvent(0.0, "neutral")])])
        drift = torch.tensor([0.006 * (i % 2) for i in range(64)]).view(64, 1, 1, 1)
        for spec, cuts in ((still, []), (two_shot_spec(), [2.0])):
            spec.shots[0].background = "sand"
            frames, _ = render_clip(spec, size=64, fps=8)
            x = (torch.from_numpy(frames).float().permute(0, 3, 1, 2) / 255 + drift[:len(frames)]).clamp(0, 1)
            found, tv = detect_cuts(x, 8.0)
            self.assertEqual(found, cuts)
            if not cuts:
                self.assertLess(float(tv.max()), 0.05)
                # the same drift moves hard 4-bin histograms by about half the frame
                q = (x * 4).long().clamp(0, 3)
                hard = ((q[:, 0] * 4 + q[:, 1]) * 4 + q[:, 2]).flatten(1)
                flipped = (hard[1:] != hard[:-1]).float().mean(1)
                self.assertGreater(float(flipped.max()), 0.4)
        h = colour_histograms(torch.rand(3, 3, 8, 8))
        self.assertTrue(torch.allclose(h.sum(1), torch.ones(3)))

    def test_scores_a_rendered_clip_and_catches_mismatches(self):
        from score import score_clip

        spec = two_shot_spec()
        frames, _ = render_clip(spec, size=64, fps=8)
        tl = spec_to_timeline(spec)
        r = score_clip(self.judge, frames, 8.0, tl)
        for metric in ("colour", "emotion", "motion", "framing", "cuts"):
            self.assertEqual(r["accuracy"][metric], 1.0, (metric, r))
        self.assertEqual(r["cut_errors_s"], [0.0])
        self.assertEqual([(b["framing"], b["action"]) for b in r["emotion_bins"]],
                         [("closeup", "left")] * 4 + [("wide", "jump")] * 4)

        wrong = json.loads(json.dumps(tl))
        for s in wrong["shots"]:
            s["colour"] = "purple"
        wrong["shots"][0]["action"] = "right"
        wrong["emotions"] = [{"start": 0.0, "end": 4.0, "emotion": "surprised"}]
        wrong["cuts"] = [1.0]
        r = score_clip(self.judge, frames, 8.0, wrong)
        self.assertEqual(r["accuracy"]["colour"], 0.0)
        self.assertEqual(r["accuracy"]["emotion"], 0.0)
        self.assertEqual(r["accuracy"]["motion"], 0.5)
        self.assertEqual(r["accuracy"]["cuts"], 0.0)

        # the breakdown puts every bin in its emotion's row and its shot's column
        from score import emotion_breakdown
        right = score_clip(self.judge, render_clip(two_shot_spec(), size=64, fps=8)[0], 8.0, tl)
        table = {line.split(" | ")[0].strip("| "): line.strip("| ").split(" | ")[1:]
                 for line in emotion_breakdown([right, r]).splitlines()[2:]}
        self.assertEqual(table["angry"], ["-", "2 / 2 (100%)", "-", "-", "2 / 2 (100%)"])
        self.assertEqual(table["sad"], ["-", "-", "-", "4 / 4 (100%)", "4 / 4 (100%)"])
        self.assertEqual(table["surprised"], ["-", "0 / 4 (0%)", "-", "0 / 4 (0%)", "0 / 8 (0%)"])
        self.assertEqual(table["all"], ["-", "4 / 8 (50%)", "-", "4 / 8 (50%)", "8 / 16 (50%)"])

        # a single continuous shot misses the intended cut
        one_shot = ClipSpec(colour="green", duration=4.0, shots=[
            Shot(start=0.0, end=4.0, framing="closeup", action="still", background="white",
                 emotions=[EmotionEvent(0.0, "angry")])])
        frames, _ = render_clip(one_shot, size=64, fps=8)
        r = score_clip(self.judge, frames, 8.0, tl)
        self.assertEqual((r["cuts_missed"], r["cuts_spurious"]), (1, 0))
        self.assertEqual(r["accuracy"]["cuts"], 0.0)


class EvalCommandTests(unittest.TestCase):
    def test_shots_mode_gives_one_shot_option_per_shot(self):
        import argparse
        import eval_tiny
        rows = load_jsonl(HELDOUT_PATH)
        multi = next(i for i, r in enumerate(rows) if len(r["spec"]["shots"]) == 3)
        single = next(i for i, r in enumerate(rows) if len(r["spec"]["shots"]) == 1)
        args = argparse.Namespace(kinema=Path("kinema"), model=Path("m"), seed=100, shots=True, beats=False)
        cmd = eval_tiny.kinema_command(args, rows[multi], multi, Path("o.safetensors"))
        shots = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--shot"]
        self.assertEqual(len(shots), 3)
        self.assertNotIn("--prompt", cmd)
        self.assertNotIn("--duration", cmd)
        seconds = [float(s.split(":", 1)[0]) for s in shots]
        self.assertEqual(seconds, [s["end"] - s["start"] for s in rows[multi]["spec"]["shots"]])
        self.assertEqual(cmd[cmd.index("--seed") + 1], str(100 + multi))
        self.assertEqual(cmd, eval_tiny.kinema_command(args, rows[multi], multi, Path("o.safetensors")))
        cmd = eval_tiny.kinema_command(args, rows[single], single, Path("o.safetensors"))
        self.assertEqual([a for a in cmd if a == "--shot"], ["--shot"])
        self.assertEqual(cmd[cmd.index("--shot") + 1], f"{rows[single]['spec']['duration']:g}:{rows[single]['prompt']}")
        args.beats = True  # as main() sets it: --beats implies --shots
        changing = next(i for i, r in enumerate(rows)
                        if len(r["spec"]["shots"]) > 1 and any(len(s["emotions"]) > 1 for s in r["spec"]["shots"]))
        cmd = eval_tiny.kinema_command(args, rows[changing], changing, Path("o.safetensors"))
        options = [a for a in cmd if a in ("--shot", "--beat")]
        expected = []
        for shot in rows[changing]["spec"]["shots"]:
            expected += ["--shot"] + ["--beat"] * (len(shot["emotions"]) - 1)
        self.assertEqual(options, expected)
        beats = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--beat"]
        relative = [e["time"] - s["start"] for s in rows[changing]["spec"]["shots"] for e in s["emotions"][1:]]
        self.assertEqual([float(b.split(":", 1)[0]) for b in beats], relative)
        args.shots = args.beats = False
        cmd = eval_tiny.kinema_command(args, rows[multi], multi, Path("o.safetensors"))
        self.assertEqual(cmd[cmd.index("--prompt") + 1], rows[multi]["prompt"])
        self.assertNotIn("--image", cmd)

    def test_image_mode_starts_from_the_worlds_first_frame(self):
        import argparse
        import eval_tiny
        from PIL import Image
        rows = load_jsonl(HELDOUT_PATH)
        with tempfile.TemporaryDirectory() as tmp:
            args = argparse.Namespace(kinema=Path("kinema"), model=Path("m"), seed=0, shots=False, beats=False,
                                      image=True)
            cmd = eval_tiny.kinema_command(args, rows[0], 0, Path(tmp) / "c.safetensors")
            png = Path(cmd[cmd.index("--image") + 1])
            self.assertEqual(png, Path(tmp) / f"{rows[0]['id']}-first.png")
            frames, _ = render_clip(ClipSpec.from_dict(rows[0]["spec"]), size=64, fps=8.0)
            self.assertTrue(np.array_equal(np.asarray(Image.open(png).convert("RGB")), frames[0]))


class ModelCardTests(unittest.TestCase):
    def test_evaluation_sections_are_replaced_in_place(self):
        import eval_tiny
        with tempfile.TemporaryDirectory() as tmp:
            card = Path(tmp) / "MODEL_CARD.md"
            card.write_text("# M\n\n## Training\n\nx\n\n## What it can and cannot do\n\nlimits\n")
            eval_tiny.write_card_section(card, 3, 0, "TABLE-1", "JUDGE-1")
            eval_tiny.write_card_section(card, 3, 0, "CEIL-1", "JUDGE-C1", ceiling=True)
            eval_tiny.write_card_section(card, 4, 0, "TABLE-2", "JUDGE-2")
            eval_tiny.write_card_section(card, 4, 0, "SHOTS-1", "JUDGE-S1", shots=True)
            eval_tiny.write_card_section(card, 4, 0, "SHOTS-2", "JUDGE-S2", shots=True)
            eval_tiny.write_card_section(card, 4, 0, "BEATS-1", "JUDGE-B1", shots=True, beats=True)
            eval_tiny.write_card_section(card, 4, 0, "SHOTS-3", "JUDGE-S3", shots=True)
            eval_tiny.write_card_section(card, 4, 0, "IMAGE-1", "JUDGE-I1", image=True)
            eval_tiny.write_card_section(card, 4, 0, "IMAGE-2", "JUDGE-I2", image=True, shots=True, beats=True)
            eval_tiny.write_card_section(card, 4, 0, "IMAGE-3", "JUDGE-I3", image=True)
            text = card.read_text()
            # One section per way of prompting: a rerun replaces only its own.
            self.assertNotIn("IMAGE-1", text)
            self.assertIn("IMAGE-2", text)
            self.assertIn("IMAGE-3", text)
            self.assertEqual(text.count(eval_tiny.IMAGE_HEADING + "\n"), 1)
            self.assertEqual(text.count(eval_tiny.image_heading(shots=True, beats=True) + "\n"), 1)
            beats = text.index(eval_tiny.image_heading(shots=True, beats=True) + "\n")
            self.assertIn("IMAGE-2", text[beats:text.index("\n## ", beats)])
            self.assertIn('EVAL_ARGS="--image --beats"', text)
            self.assertNotIn("SHOTS-1", text)
            self.assertNotIn("SHOTS-2", text)
            self.assertIn("SHOTS-3", text)
            self.assertEqual(text.count(eval_tiny.SHOTS_HEADING + "\n"), 1)
            self.assertEqual(text.count(eval_tiny.BEATS_HEADING), 1)
            self.assertIn("BEATS-1", text)
            self.assertNotIn("TABLE-1", text)
            self.assertIn("TABLE-2", text)
            self.assertIn("CEIL-1", text)
            self.assertEqual(text.count(eval_tiny.CARD_HEADING), 1)
            self.assertEqual(text.count(eval_tiny.CEILING_HEADING), 1)
            # Both sections sit before the limits, which stay last and whole.
            self.assertLess(text.index(eval_tiny.CEILING_HEADING), text.index("## What it can and cannot do"))
            self.assertTrue(text.rstrip().endswith("limits"))


if __name__ == "__main__":
    unittest.main()
