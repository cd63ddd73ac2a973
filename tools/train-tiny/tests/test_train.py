"""Checks that training conditions the model exactly as WanPipeline samples it.

    python -m unittest discover -s tools/train-tiny/tests -v
"""
from __future__ import annotations

import json
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import train  # noqa: E402
from prompts import sample_spec, spec_to_prompt  # noqa: E402


def import_for_decoder_run(work: Path, **settings):
    """Imports the committed model into `work`; returns its vae.pt and the stage_vae arguments of
    a one-step decoder-only run on the CPU, with `settings` over the defaults (no extra losses)."""
    import argparse
    model = Path(__file__).resolve().parents[3] / "models" / "kinema-tiny"
    train.stage_import(argparse.Namespace(work=str(work), model=str(model)))
    before = torch.load(work / "vae.pt", weights_only=False)
    args = argparse.Namespace(
        work=str(work), device="cpu", seed=0, threads=2, workers=1, pool=0, vae_decoder_only=True,
        vae_decoder_sample=False, vae_start_weight=0.0, vae_batch=1,
        vae_lr=1e-4, vae_kl=1e-3, vae_face_weight=0.0, vae_temporal_weight=0.0, vae_gan_weight=0.0,
        vae_anchor_weight=0.0, max_steps=before["state"]["step"] + 1, log_every=1, save_minutes=5.0)
    vars(args).update(settings)
    return before, args


def one_decoder_step(work: Path, **settings):
    """Imports the committed model into `work` and runs one decoder-only step with `settings`;
    returns the vae.pt before and after, the stage_vae arguments, the decoder's weights after
    the step and the model card for the new state."""
    before, args = import_for_decoder_run(work, **settings)
    train.stage_vae(args, minutes=5.0)
    after = torch.load(work / "vae.pt", weights_only=False)
    decoder = {k: v for k, v in after["model"].items() if k.startswith("decoder.")}
    card = card_text(after["state"], torch.load(work / "dit.pt", weights_only=False)["state"])
    return before, after, args, decoder, card


def import_for_dit_run(work: Path, clips: int = 2, **settings):
    """Imports the committed model into `work` and encodes `clips` clips; returns its vae.pt, the
    transformer's step and the stage_dit arguments of a one-step CPU run from there, with
    `settings` over the defaults (no extra losses)."""
    import argparse
    before, _ = import_for_decoder_run(work)
    train.stage_latents(argparse.Namespace(work=str(work), device="cpu", workers=1, clips=clips, latent_batch=1,
                                           seed=0))
    step = torch.load(work / "dit.pt", weights_only=False)["state"]["step"]
    args = argparse.Namespace(
        work=str(work), device="cpu", seed=0, threads=2, dit_batch=2, dit_lr=1e-5, lr_end=None, warmup=1,
        ema=0.999, uncond=0.1, flow_shift=train.FLOW_SHIFT, amp="none", dit_face_weight=0.0,
        dit_word_contrast=0.0, dit_contrast_margin=0.02, dit_contrast_words="emotions", dit_image_share=0.0,
        dit_beat_share=0.0, adopt_latents=False, max_steps=step + 1, log_every=1, save_minutes=5.0)
    vars(args).update(settings)
    return before, step, args


def card_text(vae_state: dict, dit_state: dict) -> str:
    """The model card train.save would write for these states (seed 0, the default shift, a
    180-piece tokenizer trained on 20,000 prompts; size and settings left out)."""
    import argparse
    return train.model_card(argparse.Namespace(seed=0, flow_shift=train.FLOW_SHIFT), vae_state, dit_state,
                            0, 180, 20000, {})


class TrainTests(unittest.TestCase):
    def test_clip_frames_are_8d_plus_1(self):
        rng = np.random.default_rng(0)
        for duration in (2.0, 3.5, 8.0):
            x = train.clip_tensor(sample_spec(rng, duration), temporal=4)
            self.assertEqual(tuple(x.shape), (3, int(duration * 8) + 1, train.SIZE, train.SIZE))
            self.assertTrue(torch.equal(x[:, -1], x[:, -2]))
            self.assertGreaterEqual(float(x.min()), -1.0)
            self.assertLessEqual(float(x.max()), 1.0)

    def test_parallel_rendering_matches_the_training_stream(self):
        from generate import heldout_prompts, sample_clip
        serial = train.render_training_clips(0, range(5, 11), temporal=4, workers=1)
        parallel = train.render_training_clips(0, range(5, 11), temporal=4, workers=2)
        heldout = heldout_prompts()
        for i, (a, b) in zip(range(5, 11), zip(serial, parallel)):
            spec, _ = sample_clip(0, 1, i, exclude_prompts=heldout)
            self.assertEqual(a[0].to_dict(), spec.to_dict())
            self.assertEqual(b[0].to_dict(), spec.to_dict())
            self.assertTrue(np.array_equal(a[1], b[1]))
            self.assertEqual(a[1].dtype, np.uint8)
            # The uint8 frames become exactly the tensor clip_tensor makes.
            self.assertTrue(torch.equal(train.to_model_input(torch.from_numpy(a[1])), train.clip_tensor(spec, 4)))

    def test_prompt_embeddings_match_wan_pipeline(self):
        from diffusers import WanPipeline
        import argparse
        with tempfile.TemporaryDirectory() as tmp:
            args = argparse.Namespace(work=tmp, force=False, seed=0, prompts=300, vocab=train.TOKENIZER_VOCAB,
                                      threads=1)
            train.stage_tokenizer(args)
            tokenizer = train.load_tokenizer(Path(tmp))
        torch.manual_seed(0)
        text_encoder = train.build_text_encoder(len(tokenizer)).eval()
        prompts = ["A red figure jumps in a wide shot.", "",
                   "Close-up: a green face frowns, then smiles at 2 seconds."]
        pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=None, scheduler=None,
                           transformer=None)
        with torch.no_grad():
            expected = pipe._get_t5_prompt_embeds(prompts, max_sequence_length=train.MAX_SEQUENCE_LENGTH,
                                                  device=torch.device("cpu"), dtype=torch.float32)
            actual = train.encode_prompts(tokenizer, text_encoder, prompts)
        self.assertEqual(tuple(actual.shape), tuple(expected.shape))
        self.assertLess(float((actual - expected).abs().max()), 1e-5)

    def test_sigmas_follow_the_sampler_shift(self):
        gen = torch.Generator().manual_seed(0)
        s = train.sample_sigmas(20000, 3.0, gen)
        self.assertTrue(bool(((s > 0) & (s < 1)).all()))
        # u uniform, s = 3u / (1 + 2u): P(s < 0.5) = P(u < 0.25) = 0.25
        self.assertAlmostEqual(float((s < 0.5).float().mean()), 0.25, delta=0.01)

    def test_ema_update_averages_weights(self):
        module = torch.nn.Linear(3, 2)
        ema = {"m": {k: v.clone() for k, v in module.state_dict().items()}}
        start = module.weight.detach().clone()
        with torch.no_grad():
            module.weight.add_(1.0)
        train.ema_update(ema, {"m": module}, 0.9)
        self.assertTrue(torch.allclose(ema["m"]["weight"], start + 0.1, atol=1e-6))
        # The average is a copy: training the module further does not move it.
        with torch.no_grad():
            module.weight.add_(5.0)
        self.assertTrue(torch.allclose(ema["m"]["weight"], start + 0.1, atol=1e-6))


    def test_import_then_save_reproduces_the_shipped_model(self):
        """The committed Kinema-Tiny imported into a work folder and saved again: the same weights,
        the same training record and latent statistics; the imported checkpoint has no optimizer
        state, and import refuses a work folder that already has checkpoints."""
        import argparse
        import json
        from safetensors.torch import load_file
        model = Path(__file__).resolve().parents[3] / "models" / "kinema-tiny"
        with tempfile.TemporaryDirectory() as tmp:
            work, out = Path(tmp) / "work", Path(tmp) / "out"
            work.mkdir()
            train.stage_import(argparse.Namespace(work=str(work), model=str(model)))
            with self.assertRaises(SystemExit):  # never over existing checkpoints
                train.stage_import(argparse.Namespace(work=str(work), model=str(model)))
            ck = torch.load(work / "dit.pt", weights_only=False)
            self.assertIsNone(ck["optimizer"])
            self.assertIsNotNone(ck["ema"])
            save_args = argparse.Namespace(work=str(work), out=str(out), flow_shift=train.FLOW_SHIFT, steps=20,
                                           guidance=5.0, seed=0, max_mb=30.0)
            train.stage_save(save_args)
            for part in ("transformer", "text_encoder", "vae"):
                a = load_file(next((model / part).glob("*.safetensors")))
                b = load_file(next((out / part).glob("*.safetensors")))
                self.assertEqual(sorted(a), sorted(b))
                for key in a:
                    self.assertTrue(torch.equal(a[key], b[key]), f"{part}/{key}")
            recorded = json.loads((model / "training.json").read_text())
            saved = json.loads((out / "training.json").read_text())
            for part in ("vae", "dit"):
                self.assertEqual(saved[part]["step"], recorded[part]["step"])
                self.assertEqual(saved[part]["history"], recorded[part]["history"])
            self.assertEqual(saved["latents_mean"], recorded["latents_mean"])
            self.assertEqual(json.loads((out / "vae" / "config.json").read_text())["latents_std"],
                             json.loads((model / "vae" / "config.json").read_text())["latents_std"])

    def test_decoder_run_keeps_the_latent_space_and_lists_its_runs(self):
        """A decoder-only step with the head-weighted and frame-change losses on the imported model:
        the encoder (and so the latent space) stays bit for bit, the decoder moves, and the state
        lists the earlier decoder run and this one, which the model card names."""
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            before, args = import_for_decoder_run(work, vae_latent_frames=2, vae_face_weight=3.0,
                                                  vae_temporal_weight=1.0)
            step = before["state"]["step"]
            train.stage_vae(args, minutes=5.0)
            after = torch.load(work / "vae.pt", weights_only=False)
            self.assertEqual(after["state"]["step"], step + 1)
            self.assertIsNone(after["disc"])
            moved = [k for k in before["model"] if not torch.equal(before["model"][k], after["model"][k])]
            self.assertTrue(moved)
            self.assertTrue(all(k.startswith(("decoder.", "post_quant_conv.")) for k in moved), moved)
            history = after["state"]["history"][-1]
            self.assertTrue(np.isfinite(history["flicker"]) and history["flicker"] > 0)
            runs = after["state"]["decoder_runs"]
            if "decoder_runs" in before["state"]:  # else the earlier run is rebuilt from the fields kept
                self.assertEqual(runs[:-1], before["state"]["decoder_runs"])
            # one run after the other (decoder runs and whole-VAE fine-tunes), up to this run's
            spans = sorted((r["from_step"], r["to_step"]) for r in runs + after["state"].get("joint_runs", []))
            self.assertTrue(all(a[1] == b[0] for a, b in zip(spans, spans[1:])), spans)
            self.assertEqual(spans[-1], (step, step + 1))
            self.assertEqual(runs[-1]["face_weight"], 3.0)
            card = card_text(after["state"], torch.load(work / "dit.pt", weights_only=False)["state"])
            # (labelled "the decoder alone" where whole-VAE runs are listed beside the decoder runs)
            label = "the decoder alone, " if after["state"].get("joint_runs") else ""
            self.assertIn(f"steps {step}-{step + 1}: {label}batch 1, 9-frame windows, lr 0.0001, loss L1 + L2 with "
                          "the head's pixels weighted 4x + 1 x L1 of frame-to-frame error changes, CPU", card)
            self.assertIn("VAE on GPU: NVIDIA H200 then CPU, 2 torch threads", card)

    def test_decoder_run_on_posterior_samples(self):
        """--vae-decoder-sample: from the same weights and the same windows, the decoder's step on
        posterior samples differs from its step on the posterior means; the encoder stays bit for
        bit, the run records what it decoded, and the model card says so."""
        with tempfile.TemporaryDirectory() as tmp:
            decoders = {}
            for mode in ("mean", "sample"):
                before, after, args, decoders[mode], card = one_decoder_step(
                    Path(tmp) / mode, vae_latent_frames=1, vae_decoder_sample=mode == "sample")
                self.assertEqual(after["state"]["step"], before["state"]["step"] + 1)
                encoder = [k for k in before["model"] if k.startswith(("encoder.", "quant_conv."))]
                self.assertTrue(all(torch.equal(before["model"][k], after["model"][k]) for k in encoder))
                self.assertEqual(after["state"]["decoder_runs"][-1]["latents"], mode)
                self.assertEqual("5-frame windows, lr 0.0001, decoding posterior samples, loss" in card,
                                 mode == "sample")
            self.assertTrue(any(not torch.equal(decoders["mean"][k], decoders["sample"][k]) for k in decoders["mean"]))
            args.vae_decoder_only = False
            with self.assertRaisesRegex(SystemExit, "--vae-decoder-sample: only with --vae-decoder-only"):
                train.stage_vae(args, minutes=5.0)

    def test_decoder_run_weighting_the_first_frames(self):
        """--vae-start-weight: the frames of each window's first two latent frames count more, so
        from the same weights and windows the decoder's step differs from the unweighted one;
        the run records the weight and the model card names it; a negative weight is refused."""
        with tempfile.TemporaryDirectory() as tmp:
            decoders = {}
            for weight in (0.0, 4.0):
                _, after, args, decoders[weight], card = one_decoder_step(
                    Path(tmp) / f"w{weight:g}", vae_latent_frames=2, vae_face_weight=3.0, vae_start_weight=weight)
                self.assertEqual(after["state"]["decoder_runs"][-1]["start_weight"], weight)
                self.assertEqual("the head's pixels weighted 4x and the first 5 frames of each window 5x" in card,
                                 weight == 4.0)
            self.assertTrue(any(not torch.equal(decoders[0.0][k], decoders[4.0][k]) for k in decoders[0.0]))
            args.vae_start_weight = -1.0
            with self.assertRaisesRegex(SystemExit, "--vae-start-weight must be 0 or more"):
                train.stage_vae(args, minutes=5.0)

    def test_adversarial_decoder_run(self):
        """--vae-gan-weight: the discriminator trains alone for --vae-gan-start steps, then the
        decoder also gets its adversarial loss at the adaptive scale; the discriminator is kept in
        vae.pt (a resumed run continues it), the encoder stays bit for bit, the model card says so."""
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            before, args = import_for_decoder_run(work, vae_latent_frames=1, vae_gan_weight=0.5, vae_gan_start=1,
                                                  vae_gan_frames=3, vae_disc_lr=2e-4)
            step = before["state"]["step"]
            train.stage_vae(args, minutes=5.0)
            first = torch.load(work / "vae.pt", weights_only=False)
            self.assertEqual(first["state"]["disc_steps"], 1)
            args.max_steps = step + 2
            train.stage_vae(args, minutes=5.0)
            after = torch.load(work / "vae.pt", weights_only=False)
            self.assertEqual(after["state"]["disc_steps"], 2)
            moved = [k for k in first["disc"] if not torch.equal(first["disc"][k], after["disc"][k])]
            self.assertTrue(moved)  # the resumed discriminator trained on
            encoder = [k for k in before["model"] if k.startswith(("encoder.", "quant_conv."))]
            self.assertTrue(all(torch.equal(before["model"][k], after["model"][k]) for k in encoder))
            logged = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
            scales = [e["gan_scale"] for e in logged if e.get("stage") == "vae" and "gan_scale" in e]
            self.assertEqual(scales[0], 0.0)  # the discriminator's first step: alone
            self.assertGreater(scales[1], 0.0)
            self.assertTrue(all(0.0 <= e["d_real_ok"] <= 1.0 for e in logged if "d_real_ok" in e))
            self.assertEqual(after["state"]["decoder_runs"][-1]["gan_weight"], 0.5)
            card = card_text(after["state"], torch.load(work / "dit.pt", weights_only=False)["state"])
            self.assertIn("+ a patch discriminator's adversarial loss (adaptive weight x 0.5, on single frames)", card)

    def test_adversarial_settings_are_checked(self):
        """The adversarial loss needs frames to show; the anchor needs an encoder that trains."""
        with tempfile.TemporaryDirectory() as tmp:
            _, args = import_for_decoder_run(Path(tmp), vae_latent_frames=1, vae_gan_weight=0.5, vae_gan_start=1,
                                             vae_gan_frames=0, vae_disc_lr=2e-4)
            with self.assertRaisesRegex(SystemExit, "--vae-gan-frames"):
                train.stage_vae(args, minutes=5.0)
            args.vae_gan_frames, args.vae_anchor_weight = 3, 0.1
            with self.assertRaisesRegex(SystemExit, "--vae-anchor-weight: not with --vae-decoder-only"):
                train.stage_vae(args, minutes=5.0)
            args.vae_decoder_only, args.vae_anchor_weight = False, -1.0
            with self.assertRaisesRegex(SystemExit, "--vae-anchor-weight must be 0 or more"):
                train.stage_vae(args, minutes=5.0)

    def test_whole_vae_fine_tune_then_the_transformer_on_its_latents(self):
        """After decoder runs, a run of the whole VAE (anchored to its starting encoder, with the
        discriminator) is a new latent space: the encoder moves, the run is listed apart and the
        first training's settings stay. The transformer refuses the new latents unless told to
        adopt them; then it takes their normalisation, restarts its weight average and the card
        says from which step on it saw them; `save` accepts the pair."""
        import argparse
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            before, step, dit_args = import_for_dit_run(work)
            vae_step = before["state"]["step"]
            _, vae_args = import_for_decoder_run(work / "fresh-import")
            vars(vae_args).update(work=str(work), vae_decoder_only=False, vae_latent_frames=1, vae_anchor_weight=0.1,
                                  vae_gan_weight=0.5, vae_gan_start=1, vae_gan_frames=3, vae_disc_lr=2e-4,
                                  vae_face_weight=3.0, max_steps=vae_step + 2)
            train.stage_vae(vae_args, minutes=5.0)
            after = torch.load(work / "vae.pt", weights_only=False)
            state = after["state"]
            self.assertEqual(train.latent_step(state), vae_step + 2)
            encoder = [k for k in before["model"] if k.startswith(("encoder.", "quant_conv."))]
            self.assertTrue(any(not torch.equal(before["model"][k], after["model"][k]) for k in encoder))
            self.assertEqual(state["decoder_runs"], train.decoder_runs(before["state"]))
            self.assertEqual(state["window"], before["state"]["window"])  # the first training's, kept
            run = state["joint_runs"][-1]
            self.assertEqual((run["from_step"], run["to_step"], run["anchor_weight"]), (vae_step, vae_step + 2, 0.1))
            logged = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
            drifts = [e["drift"] for e in logged if "drift" in e]
            self.assertEqual(len(drifts), 2)
            self.assertEqual(drifts[0], 0.0)  # the first step starts from the anchor itself
            self.assertTrue(np.isfinite(drifts[1]) and drifts[1] > 0)
            # The transformer on the old latents against the new cache.
            (work / "latents.pt").unlink()
            train.stage_latents(argparse.Namespace(work=str(work), device="cpu", workers=1, clips=2, latent_batch=1,
                                                   seed=0))
            with self.assertRaisesRegex(SystemExit, "--adopt-latents"):
                train.stage_dit(dit_args, minutes=5.0)
            dit_args.adopt_latents = True
            train.stage_dit(dit_args, minutes=5.0)
            ck = torch.load(work / "dit.pt", weights_only=False)
            cache = torch.load(work / "latents.pt", weights_only=False)
            dit = ck["state"]
            self.assertEqual(dit["step"], step + 1)
            self.assertEqual(dit["vae_step"], vae_step + 2)
            earlier = torch.load(work / "fresh-import" / "dit.pt", weights_only=False)["state"].get("latent_switches", [])
            self.assertEqual(dit["latent_switches"], earlier + [
                {"at_step": step, "from_vae_step": train.latent_step(before["state"]), "to_vae_step": vae_step + 2}])
            self.assertEqual(ck["latents_mean"], cache["latents_mean"])
            self.assertEqual(dit["ema_since"], step)
            card = card_text(state, dit)
            self.assertIn(f"steps {vae_step}-{vae_step + 2}: encoder and decoder, batch 1, 5-frame windows, lr "
                          "0.0001, loss L1 + L2 with the head's pixels weighted 4x + 0.001 x KL + 0.1 x the latents' "
                          "squared change from the starting encoder + a patch discriminator's adversarial loss", card)
            self.assertIn(f"The latent space is that of the encoder of step {vae_step + 2}.", card)
            self.assertIn(f"steps {step}-{step + 1}: batch 2, lr 1e-05, 2 clips, from here on the latents of the VAE "
                          f"encoder of step {vae_step + 2}, CPU", card)
            # The next run on the same latents is an ordinary resume.
            dit_args.max_steps = step + 2
            train.stage_dit(dit_args, minutes=5.0)
            self.assertEqual(len(torch.load(work / "dit.pt", weights_only=False)["state"]["latent_switches"]),
                             len(earlier) + 1)
            train.stage_save(argparse.Namespace(work=str(work), out=str(work / "model"), flow_shift=train.FLOW_SHIFT,
                                                steps=20, guidance=2.5, max_mb=30.0, seed=0))
            saved = json.loads((work / "model" / "vae" / "config.json").read_text())
            self.assertEqual(saved["latents_mean"], cache["latents_mean"])

    def test_latent_face_masks_follow_the_latent_grid(self):
        """A latent position is in the head exactly where a pixel of one of the frames it encodes
        is: frame 0 alone for the first latent frame, then 4 frames each, 4x4 pixels."""
        spec = sample_spec(np.random.default_rng(5), 3.0)
        pixels = train.clip_faces(spec, 4)  # 25 frames
        latent = train.latent_face_masks(spec)
        self.assertEqual(latent.shape, (7, 16, 16))
        self.assertTrue(latent.any() and not latent.all())
        for k, frames in [(0, pixels[:1]), (1, pixels[1:5]), (6, pixels[21:25])]:
            for y, x in [(0, 0), (8, 8), (5, 11), (12, 3)]:
                self.assertEqual(latent[k, y, x], bool(frames[:, 4 * y:4 * y + 4, 4 * x:4 * x + 4].any()), (k, y, x))

    def test_face_weighted_transformer_step(self):
        """--dit-face-weight: a transformer step on a small latent cache with the head's latents
        weighted; the run is recorded with its weight and the model card names it."""
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            before, step, args = import_for_dit_run(work, dit_face_weight=3.0)
            train.stage_dit(args, minutes=5.0)
            dit = torch.load(work / "dit.pt", weights_only=False)["state"]
            self.assertEqual(dit["step"], step + 1)
            self.assertEqual(dit["runs"][-1]["face_weight"], 3.0)
            self.assertTrue(np.isfinite(dit["history"][-1]["loss"]))
            card = card_text(before["state"], dit)
            self.assertIn(f"steps {step}-{step + 1}: batch 2, lr 1e-05, 2 clips, head latents weighted 4x, CPU", card)
            args.dit_face_weight = -1.0
            with self.assertRaisesRegex(SystemExit, "--dit-face-weight"):
                train.stage_dit(args, minutes=5.0)
            # The word contrast: one more step with every prompt kept (no empty ones), logged with
            # its gap and its flow loss and listed on the card with the words it swapped; then the
            # same with the actions swapped instead, and with the order of the words.
            args.dit_face_weight, args.dit_word_contrast, args.uncond = 0.0, 1.0, 0.0
            for k, (words, label) in enumerate([("emotions", "emotion-word"), ("actions", "action-word"),
                                                ("order", "word-order")], start=1):
                args.dit_contrast_words, args.max_steps = words, step + 1 + k
                train.stage_dit(args, minutes=5.0)
                dit = torch.load(work / "dit.pt", weights_only=False)["state"]
                self.assertEqual(dit["step"], step + 1 + k)
                logged = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
                gaps = [r["word_gap"] for r in logged if "word_gap" in r]
                self.assertEqual(len(gaps), k)
                self.assertTrue(np.isfinite(gaps[-1]))
                # The flow loss is logged beside the total, which adds the hinge (>= 0) to it.
                last = [r for r in logged if "word_gap" in r][-1]
                self.assertTrue(0 < last["flow"] <= last["loss"] + 1e-5)
                card = card_text(before["state"], dit)
                self.assertIn(f"steps {step + k}-{step + 1 + k}: batch 2, lr 1e-05, 2 clips, {label} contrast 1 "
                              "(margin 0.02), CPU", card)
            args.dit_contrast_margin = -0.1
            with self.assertRaisesRegex(SystemExit, "--dit-word-contrast"):
                train.stage_dit(args, minutes=5.0)

    def test_image_conditioned_transformer_step(self):
        """--dit-image-share: steps where every clip's first latent frame is given clean at
        timestep 0 (and left out of the loss); recorded with its share and named on the card."""
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            before, step, args = import_for_dit_run(work, dit_image_share=1.0)
            args.max_steps = step + 2
            train.stage_dit(args, minutes=5.0)
            dit = torch.load(work / "dit.pt", weights_only=False)["state"]
            self.assertEqual(dit["step"], step + 2)
            self.assertEqual(dit["runs"][-1]["image_share"], 1.0)
            self.assertTrue(np.isfinite(dit["history"][-1]["loss"]))
            card = card_text(before["state"], dit)
            self.assertIn(f"steps {step}-{step + 2}: batch 2, lr 1e-05, 2 clips, the first latent frame given clean "
                          "in 100% of clips (image-to-video), CPU", card)
            args.dit_image_share = 1.5
            with self.assertRaisesRegex(SystemExit, "--dit-image-share"):
                train.stage_dit(args, minutes=5.0)

    def test_beats_switch_where_the_engine_switches(self):
        """beat_latent_frame is Pipeline.planBeats' rule (values from `kinema generate --beat`'s
        notes at 8 fps); beat_schedule tells a one-shot clip whose emotion changes as one prompt
        per emotion, each the shot holding that emotion, and nothing else."""
        import dataclasses
        from world import BACKGROUND_NAMES, ClipSpec, EmotionEvent, Shot
        BACKGROUND = BACKGROUND_NAMES[0]
        for seconds, latent in [(0.5, 2), (1.0, 3), (1.5, 4), (2.0, 5), (3.0, 7), (0.25, 1), (0.375, 2)]:
            self.assertEqual(train.beat_latent_frame(seconds, 8.0, 4), latent, seconds)
        shot = Shot(start=0.0, end=4.0, framing="closeup", action="still", background=BACKGROUND,
                    emotions=[EmotionEvent(0.0, "happy"), EmotionEvent(1.5, "sad"), EmotionEvent(3.0, "angry")],
                    x_start=0.5, x_end=0.5)
        spec = ClipSpec(colour="blue", duration=4.0, shots=[shot])
        spec.validate()
        told = []

        def phrase(s, rng):
            told.append(s)
            return spec_to_prompt(s, rng)

        schedule = train.beat_schedule(spec, 9, phrase, np.random.default_rng(0))
        self.assertEqual([first for first, _ in schedule], [0, 4, 7])
        self.assertEqual([s.shots[0].emotions for s in told],
                         [[EmotionEvent(0.0, e)] for e in ("happy", "sad", "angry")])
        for s in told:
            self.assertEqual(dataclasses.replace(s.shots[0], emotions=[]), dataclasses.replace(shot, emotions=[]))
            self.assertEqual(s.colour, "blue")
        self.assertEqual(len({text for _, text in schedule}), 3)
        # Not told with beats: one emotion, several shots, a change past the last latent frame.
        one = dataclasses.replace(spec, shots=[dataclasses.replace(shot, emotions=shot.emotions[:1])])
        self.assertIsNone(train.beat_schedule(one, 9, phrase, np.random.default_rng(0)))
        two = ClipSpec(colour="blue", duration=8.0, shots=[shot, dataclasses.replace(shot, start=4.0, end=8.0, emotions=[
            EmotionEvent(4.0, "happy"), EmotionEvent(5.0, "sad")])])
        two.validate()
        self.assertIsNone(train.beat_schedule(two, 17, phrase, np.random.default_rng(0)))
        self.assertIsNone(train.beat_schedule(spec, 7, phrase, np.random.default_rng(0)))

    def test_span_cross_attention_gives_each_span_its_prompt(self):
        """With the spans' contexts side by side and span_contexts' mask, the tokens of each span
        of latent frames get exactly the cross-attention of their own prompt; with one prompt in
        every span the whole transformer gives what it gives for that prompt alone."""
        torch.manual_seed(0)
        transformer = train.build_transformer().eval()
        attn = transformer.blocks[0].attn2
        proc = train.SpanCrossAttention(attn.processor)
        attn.set_processor(proc)
        frames, per_frame, dim = 5, 16, transformer.config.num_attention_heads * transformer.config.attention_head_dim
        hidden = torch.randn(2, frames * per_frame, dim)
        prompts = torch.randn(3, 7, dim)
        # Clip 0: prompt 0 on latent frames 0-1, prompt 1 on 2-4; clip 1: prompt 2 throughout.
        context, mask = train.span_contexts(prompts, [[0, 2], [0]], frames, per_frame)
        self.assertEqual(tuple(context.shape), (2, 14, dim))
        with torch.no_grad():
            proc.mask = mask
            both = attn(hidden, context)
            proc.mask = None
            alone = [attn(hidden[:1, :2 * per_frame], prompts[0:1]), attn(hidden[:1, 2 * per_frame:], prompts[1:2]),
                     attn(hidden[1:], prompts[2:3])]
        self.assertLess(float((both[0, :2 * per_frame] - alone[0][0]).abs().max()), 1e-5)
        self.assertLess(float((both[0, 2 * per_frame:] - alone[1][0]).abs().max()), 1e-5)
        self.assertLess(float((both[1] - alone[2][0]).abs().max()), 1e-5)
        with torch.no_grad():
            other = attn(hidden[:1, 2 * per_frame:], prompts[0:1])[0]
        self.assertGreater(float((both[0, 2 * per_frame:] - other).abs().max()), 1e-3)
        # The whole transformer: one prompt in three spans is that prompt.
        for block in transformer.blocks:
            block.attn2.set_processor(train.SpanCrossAttention(attn.processor.base))
        latent = torch.randn(1, transformer.config.in_channels, frames, 8, 8)
        emb = torch.randn(1, 11, transformer.config.text_dim)
        spans, mask = train.span_contexts(emb.expand(3, -1, -1), [[0, 1, 3]], frames, 16)
        with torch.no_grad():
            plain = transformer(hidden_states=latent, timestep=torch.tensor([500.0]), encoder_hidden_states=emb,
                                return_dict=False)[0]
            for block in transformer.blocks:
                block.attn2.processor.mask = mask
            spanned = transformer(hidden_states=latent, timestep=torch.tensor([500.0]),
                                  encoder_hidden_states=spans, return_dict=False)[0]
        self.assertLess(float((plain - spanned).abs().max()), 1e-5)

    def test_transformer_step_with_beats(self):
        """--dit-beat-share: a step on a one-shot clip whose emotion changes, told with beats;
        logged with the share of clips told so, recorded with its share and named on the card."""
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            before, step, args = import_for_dit_run(work, clips=6, dit_beat_share=1.0, uncond=0.0)
            # Keep only the clip of the training stream's first six that is one shot with three
            # emotions (clip 5, 7.5 s), so that the step must tell it with beats.
            cache = torch.load(work / "latents.pt", weights_only=False)
            cache["groups"] = {d: g for d, g in cache["groups"].items() if d == 7.5}
            spec = train.ClipSpec.from_dict(cache["groups"][7.5]["specs"][0])
            self.assertEqual((len(spec.shots), len(spec.shots[0].emotions)), (1, 3))
            torch.save(cache, work / "latents.pt")
            train.stage_dit(args, minutes=5.0)
            dit = torch.load(work / "dit.pt", weights_only=False)["state"]
            self.assertEqual(dit["step"], step + 1)
            self.assertEqual(dit["runs"][-1]["beat_share"], 1.0)
            self.assertTrue(np.isfinite(dit["history"][-1]["loss"]))
            logged = [json.loads(line) for line in (work / "log.jsonl").read_text().splitlines()]
            self.assertEqual([r["beats"] for r in logged if "beats" in r], [1.0])
            card = card_text(before["state"], dit)
            self.assertIn(f"steps {step}-{step + 1}: batch 2, lr 1e-05, 6 clips, one prompt per emotion over its "
                          "latent frames (beats) in 100% of the draws of one-shot clips whose emotion changes, CPU",
                          card)
            args.dit_beat_share = -0.5
            with self.assertRaisesRegex(SystemExit, "--dit-beat-share"):
                train.stage_dit(args, minutes=5.0)

    def test_swapped_emotions_keep_the_clip(self):
        """swap_emotions: every emotion event changes, through one permutation, and nothing else."""
        import dataclasses
        rng = np.random.default_rng(3)
        for seed in range(20):
            spec = sample_spec(np.random.default_rng(seed), 6.0)
            other = train.swap_emotions(spec, rng)
            mapping = {}
            for a, b in zip(spec.shots, other.shots):
                self.assertEqual(dataclasses.replace(a, emotions=[]), dataclasses.replace(b, emotions=[]))
                self.assertEqual([e.time for e in a.emotions], [e.time for e in b.emotions])
                for e, f in zip(a.emotions, b.emotions):
                    self.assertNotEqual(e.emotion, f.emotion)
                    self.assertEqual(mapping.setdefault(e.emotion, f.emotion), f.emotion)
            self.assertEqual(len(set(mapping.values())), len(mapping))
            self.assertEqual(spec.colour, other.colour)

    def test_swapped_actions_keep_the_clip(self):
        """swap_actions: every shot's action changes (left and right trade places, still and jump
        too) and nothing else; the swapped prompt tells of the other motion. swap_words "both"
        swaps emotions for some clips and actions for others."""
        import dataclasses
        rng = np.random.default_rng(4)
        kinds = set()
        for seed in range(20):
            spec = sample_spec(np.random.default_rng(seed), 6.0)
            other = train.swap_actions(spec)
            for a, b in zip(spec.shots, other.shots):
                self.assertEqual(dataclasses.replace(a, action="still"), dataclasses.replace(b, action="still"))
                self.assertEqual(train.ACTION_SWAP[b.action], a.action)
            self.assertNotEqual(spec_to_prompt(spec, np.random.default_rng(0)),
                                spec_to_prompt(other, np.random.default_rng(0)))
            either = train.swap_words(spec, "both", rng)
            emotions_same = [e.emotion for s in spec.shots for e in s.emotions] == \
                [e.emotion for s in either.shots for e in s.emotions]
            actions_same = [s.action for s in spec.shots] == [s.action for s in either.shots]
            self.assertNotEqual(emotions_same, actions_same)
            kinds.add("actions" if emotions_same else "emotions")
        self.assertEqual(kinds, {"actions", "emotions"})

    def test_swapped_order_keeps_the_words(self):
        """swap_order: the same actions and emotions, rotated among the shots and the emotion
        events (times, framings, colours kept), never the same emotion twice in a row within a
        shot, and None for a clip with nothing to reorder that way."""
        import dataclasses
        from world import ClipSpec, EmotionEvent, Shot
        changed = 0
        for seed in range(40):
            spec = sample_spec(np.random.default_rng(seed), 6.0)
            other = train.swap_order(spec)
            actions = [s.action for s in spec.shots]
            emotions = [e.emotion for s in spec.shots for e in s.emotions]
            if other is None:
                # Nothing to reorder: one action, and every rotation of the emotions that changes
                # them would put one emotion twice in a row in a shot.
                self.assertEqual(len(set(actions)), 1)
                sizes = [len(s.emotions) for s in spec.shots]
                for k in range(1, len(emotions)):
                    r = emotions[k:] + emotions[:k]
                    if r == emotions:
                        continue
                    parts = [r[sum(sizes[:i]):sum(sizes[:i + 1])] for i in range(len(sizes))]
                    self.assertTrue(any(a == b for part in parts for a, b in zip(part, part[1:])))
                continue
            changed += 1
            other.validate()
            new_actions = [s.action for s in other.shots]
            new_emotions = [e.emotion for s in other.shots for e in s.emotions]
            self.assertNotEqual((actions, emotions), (new_actions, new_emotions))
            self.assertEqual(sorted(actions), sorted(new_actions))
            self.assertEqual(sorted(emotions), sorted(new_emotions))
            for a, b in zip(spec.shots, other.shots):
                self.assertEqual(dataclasses.replace(a, action="still", emotions=[]),
                                 dataclasses.replace(b, action="still", emotions=[]))
                self.assertEqual([e.time for e in a.emotions], [e.time for e in b.emotions])
                self.assertTrue(all(e.emotion != f.emotion for e, f in zip(b.emotions, b.emotions[1:])))
        self.assertGreater(changed, 20)
        still = ClipSpec(colour="red", duration=2.0, shots=[Shot(0.0, 2.0, "closeup", "still", "white",
                                                                 [EmotionEvent(0.0, "happy")])])
        self.assertIsNone(train.swap_order(still))
        self.assertIsNone(train.swap_words(still, "order", np.random.default_rng(0)))

    def test_patch_discriminator_sees_frames(self):
        """frames_of picks the same frames of every clip; the discriminator maps 64x64 frames to an
        8x8 grid of logits."""
        clips = torch.arange(2 * 3 * 5 * 4 * 4, dtype=torch.float32).view(2, 3, 5, 4, 4)
        picked = train.frames_of(clips, torch.tensor([4, 1]))
        self.assertEqual(tuple(picked.shape), (4, 3, 4, 4))
        self.assertTrue(torch.equal(picked[1], clips[0, :, 1]))
        self.assertTrue(torch.equal(picked[2], clips[1, :, 4]))
        out = train.PatchDiscriminator()(torch.zeros(2, 3, 64, 64))
        self.assertEqual(tuple(out.shape), (2, 1, 8, 8))

    def test_word_probe(self):
        """probe_words: the committed transformer tells a surprised face from the other prompts,
        and each action from the others (its own word's head loss lowest by a wide margin); with
        its cross-attention output zeroed it cannot read the prompt, and every word scores the
        same (margins 0)."""
        import probe_words as probe
        from world import ACTIONS, EMOTIONS
        parts = probe.load(Path(__file__).resolve().parents[3] / "models" / "kinema-tiny")
        losses, correct = probe.head_losses(*parts, ["blue"], draws=1, seed=0)
        self.assertEqual(losses.shape, (5, 5))
        self.assertEqual(len(correct), 5 * len(probe.SIGMAS))
        result = probe.report(losses, correct)
        self.assertGreater(result["per_word_margin"]["surprised"], 0.2)
        # Each row is the plain mean of its clip's losses over the noisings, prompt by prompt.
        tokenizer, text_encoder, transformer, vae = parts
        emb = train.encode_prompts(tokenizer, text_encoder, [probe.prompt_for(e, "blue") for e in EMOTIONS])
        gen = torch.Generator().manual_seed(0)
        rows = [np.mean(probe.noised_head_losses(transformer, vae, probe.emotion_clip(e, "blue"), emb, 1, gen),
                        axis=0) for e in EMOTIONS]
        np.testing.assert_allclose(np.array(rows), losses, rtol=1e-5)
        surprised = EMOTIONS.index("surprised")
        self.assertEqual(int(np.argmin(losses[surprised])), surprised)
        losses, correct = probe.head_losses(*parts, ["blue"], draws=1, seed=0, words="actions")
        self.assertEqual(losses.shape, (4, 4))
        result = probe.report(losses, correct, "actions")
        self.assertEqual(list(np.argmin(losses, axis=1)), list(range(len(ACTIONS))))
        for margin in result["per_word_margin"].values():
            self.assertGreater(margin, 0.2)
        transformer = parts[2]
        with torch.no_grad():
            for block in transformer.blocks:
                for p in block.attn2.to_out[0].parameters():
                    p.zero_()
        for words in ("emotions", "actions"):
            blind, correct = probe.head_losses(*parts, ["blue"], draws=1, seed=0, words=words)
            for margin in probe.report(blind, correct, words)["per_word_margin"].values():
                self.assertAlmostEqual(margin, 0.0, places=5)
        # The order of two shots: twelve ordered pairs of actions, each told both ways.
        blind, correct = probe.order_losses(*parts, ["blue"], draws=1, seed=0)
        self.assertEqual(len(blind), 12)
        self.assertEqual(len(correct), 12 * len(probe.SIGMAS))
        for own, swapped in blind.values():
            self.assertAlmostEqual(swapped / own - 1, 0.0, places=5)


if __name__ == "__main__":
    unittest.main()
