#!/usr/bin/env python3
"""Trains Kinema-Tiny, a small Wan2.1-architecture text-to-video model, on the acting world.

Run from the repository root with the virtualenv made by tools/reference/setup-venv.sh
(torch, diffusers, transformers, sentencepiece, numpy, Pillow):

    python tools/train-tiny/train.py all --work out/train-tiny --out models/kinema-tiny --minutes 180

Stages (each can be run on its own; all state lives in --work, so every stage resumes):
  tokenizer  SentencePiece unigram model trained on generated prompts, saved as a T5 tokenizer.
  vae        AutoencoderKLWan trained on rendered clips: L1 + L2 reconstruction + small KL.
  latents    Encodes rendered training clips with the trained VAE (cache for the DiT stage).
  dit        WanTransformer3DModel and UMT5EncoderModel trained jointly from scratch with the
             rectified-flow objective the Wan sampler expects.
  save       WanPipeline.save_pretrained into --out, plus kinema.json, MODEL_CARD.md and
             training.json (what each component's training recorded).
  import     Turns a saved pipeline (--model, with its training.json) back into the checkpoints
             of --work, so that later stages continue training it (with fresh optimizer state).
  verify     Loads --out with WanPipeline.from_pretrained and generates a clip in diffusers.
  all        tokenizer, vae, latents, dit, save, verify; --minutes is split between vae and dit.

Clips come from tools/acting-world (training seed stream, namespace 1); prompts equal to a
held-out prompt are never used.
"""
from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "acting-world"))

from generate import DURATIONS, TRAIN_NAMESPACE, clip_rng, heldout_prompts, sample_clip  # noqa: E402
from prompts import beat_prompts, sample_spec, spec_to_prompt  # noqa: E402
from world import EMOTIONS, ClipSpec, face_masks, pad_to_chunks, render_clip  # noqa: E402

# The text length WanPipeline pads prompt embeddings to (its default max_sequence_length).
MAX_SEQUENCE_LENGTH = 512
FPS = 8.0
SIZE = 64

# Architecture. The VAE compresses 4x in time (like Wan) and 4x in space (Wan: 8x; at 64 px an
# 8x latent grid is 8x8, too coarse for faces in wide shots). Both are settings the Wan VAE
# config expresses directly: three levels (dim_mult of length 3), two spatial downsamples, both
# also temporal.
VAE = dict(base_dim=16, z_dim=8, dim_mult=[1, 2, 4], num_res_blocks=1, attn_scales=[],
           temperal_downsample=[True, True], dropout=0.0,
           scale_factor_temporal=4, scale_factor_spatial=4)
TEXT_ENCODER = dict(d_model=128, d_kv=32, d_ff=256, num_layers=2, num_heads=4,
                    relative_attention_num_buckets=32, relative_attention_max_distance=128,
                    feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, dropout_rate=0.0,
                    pad_token_id=0, eos_token_id=1, tie_word_embeddings=False)
TRANSFORMER = dict(patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=48,
                   in_channels=VAE["z_dim"], out_channels=VAE["z_dim"],
                   text_dim=TEXT_ENCODER["d_model"], freq_dim=256, ffn_dim=768, num_layers=8,
                   cross_attn_norm=True, qk_norm="rms_norm_across_heads", eps=1e-6,
                   rope_max_seq_len=1024)
FLOW_SHIFT = 3.0
TOKENIZER_VOCAB = 400
NEGATIVE_PROMPT = ""


def log(work: Path, stage: str, **values) -> None:
    values = {"stage": stage, "time": round(time.time(), 1), **values}
    line = json.dumps(values)
    print(line, flush=True)
    with open(work / "log.jsonl", "a", encoding="utf-8") as f:
        f.write(line + "\n")


def atomic_save(obj, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_dir(path: Path, write):
    """Writes the folder `path` through `write(staging_folder)` (a folder beside it), then swaps it
    in: a failed or interrupted write leaves `path` as it was. Returns what `write` returns."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        result = write(staged)
        if path.exists():
            shutil.rmtree(path)
        os.replace(staged, path)
        return result
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# MARK: - Data


def clip_frames(spec: ClipSpec, temporal: int) -> np.ndarray:
    """Frames of `spec` as uint8 [T, H, W, 3], T padded to temporal*k+1 with the last frame
    (a clip of d seconds at 8 fps has 8d frames; Kinema and diffusers generate 8d+1)."""
    frames, _ = render_clip(spec, size=SIZE, fps=FPS)
    return pad_to_chunks(frames, temporal)


def clip_faces(spec: ClipSpec, temporal: int) -> np.ndarray:
    """Head masks of `spec`'s frames as bool [T, H, W], padded like clip_frames."""
    return pad_to_chunks(face_masks(spec, size=SIZE, fps=FPS), temporal)


def swap_emotions(spec: ClipSpec, rng: np.random.Generator) -> ClipSpec:
    """`spec` with every emotion replaced through a random permutation of the emotions that moves
    each one (a derangement): the same clip, timings and shots, told with other emotion words."""
    while True:
        order = rng.permutation(len(EMOTIONS))
        if not np.any(order == np.arange(len(EMOTIONS))):
            break
    swap = {e: EMOTIONS[int(j)] for e, j in zip(EMOTIONS, order)}
    return dataclasses.replace(spec, shots=[
        dataclasses.replace(shot, emotions=[dataclasses.replace(ev, emotion=swap[ev.emotion]) for ev in shot.emotions])
        for shot in spec.shots])


# Each action's swap for --dit-contrast-words actions: the other direction, or the other of
# standing and jumping (every action changes, and the prompt then tells of a different motion).
ACTION_SWAP = {"left": "right", "right": "left", "still": "jump", "jump": "still"}


def swap_actions(spec: ClipSpec) -> ClipSpec:
    """`spec` with every shot's action swapped through ACTION_SWAP: the same clip, emotions,
    timings and shots, told with other motion words."""
    return dataclasses.replace(spec, shots=[dataclasses.replace(shot, action=ACTION_SWAP[shot.action])
                                            for shot in spec.shots])


def _rotations(seq: list) -> list[list]:
    """The rotations of seq (by 1 .. n-1) that change it."""
    return [r for r in (seq[k:] + seq[:k] for k in range(1, len(seq))) if r != seq]


def swap_order(spec: ClipSpec) -> ClipSpec | None:
    """`spec` told in another order, with the same words: the shots' actions rotated among the
    shots, and the emotions rotated among the clip's emotion events (times kept; only rotations
    that leave no shot with the same emotion twice in a row). None when no such rotation changes
    anything (one action, and one emotion or only rotations that would repeat one in a shot)."""
    actions = [shot.action for shot in spec.shots]
    emotions = [ev.emotion for shot in spec.shots for ev in shot.emotions]
    new_actions = (_rotations(actions) or [actions])[0]
    new_emotions = emotions
    for r in _rotations(emotions):
        k, ok = 0, True
        for shot in spec.shots:
            seq = r[k:k + len(shot.emotions)]
            ok = ok and all(a != b for a, b in zip(seq, seq[1:]))
            k += len(shot.emotions)
        if ok:
            new_emotions = r
            break
    if new_actions == actions and new_emotions == emotions:
        return None
    it = iter(new_emotions)
    return dataclasses.replace(spec, shots=[
        dataclasses.replace(shot, action=action,
                            emotions=[dataclasses.replace(ev, emotion=next(it)) for ev in shot.emotions])
        for shot, action in zip(spec.shots, new_actions)])


def swap_words(spec: ClipSpec, words: str, rng: np.random.Generator) -> ClipSpec | None:
    """The spec whose prompt --dit-word-contrast compares with the clip's own: its emotions
    swapped (words "emotions"), its actions swapped ("actions"), either, chosen at random per
    clip ("both"), or the same words in another order (`swap_order`, "order"; None where the
    clip has nothing to reorder)."""
    if words == "order":
        return swap_order(spec)
    if words == "both":
        words = "emotions" if rng.random() < 0.5 else "actions"
    return swap_emotions(spec, rng) if words == "emotions" else swap_actions(spec)


def head_mse(pred: torch.Tensor, target: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """Per clip, the squared error of pred against target [B, C, T, H, W], averaged over the
    channels and the head's latent positions (`head`, [B, T, H, W] or [T, H, W], 0 or 1)."""
    area = head.sum(dim=(-3, -2, -1)).clamp_min(1.0)
    return ((pred - target).pow(2).mean(1) * head).sum(dim=(-3, -2, -1)) / area


def beat_latent_frame(seconds: float, fps: float, temporal: int) -> int:
    """The latent frame at which Kinema's engine switches to a beat's prompt (Pipeline.planBeats):
    the first one more than half of whose pixel frames come at or after the beat's frame (latent
    frame j >= 1 holds pixel frames temporal*(j-1)+1 ... temporal*j)."""
    frame = math.floor(seconds * fps + 0.5)
    return 0 if frame == 0 else math.floor((frame - 1) / temporal + 1 + 0.5)


def beat_schedule(spec: ClipSpec, latent_frames: int, phrase, rng: np.random.Generator) -> list[tuple[int, str]] | None:
    """The prompts Kinema's beats give a one-shot clip whose emotion changes: (first latent
    frame, prompt) per span of latent frames, each prompt the shot holding one emotion throughout
    (`prompts.beat_prompts`, phrased by `phrase(spec, rng)`), switched where the engine switches
    (`beat_latent_frame`). None for a clip of several shots or one emotion, or where a change
    would not start a later latent frame or a phrasing is missing."""
    if len(spec.shots) != 1 or len(spec.shots[0].emotions) < 2:
        return None
    first, changes = beat_prompts(spec, 0, rng, phrase)
    temporal = VAE["scale_factor_temporal"]
    schedule = [(0, first)] + [(beat_latent_frame(t, FPS, temporal), text) for t, text in changes]
    starts = [frame for frame, _ in schedule]
    if not all(text for _, text in schedule) or any(b <= a for a, b in zip(starts, starts[1:])) \
            or starts[-1] >= latent_frames:
        return None
    return schedule


class SpanCrossAttention:
    """A cross-attention processor for the transformer's `attn2` that applies `mask` ([B, 1,
    tokens, context rows], True where a token may attend) when one is set: with the contexts of
    a clip's spans side by side, each latent frame's tokens attend only to their span's prompt,
    as Kinema's engine runs beats (WanTransformer.forward(latent:timestep:schedule:)). Without a
    mask it is diffusers' processor unchanged."""

    def __init__(self, base):
        self.base = base
        self.mask: torch.Tensor | None = None

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if attention_mask is None and self.mask is not None:
            attention_mask = self.mask
        return self.base(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)


def span_contexts(emb: torch.Tensor, schedules: list[list[int]], latent_frames: int,
                  tokens_per_frame: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Prompt embeddings `emb` [sum of spans, L, D] (each clip's spans in order) as one context per
    clip [B, S*L, D] (S the most spans of a clip; missing spans zero) and the cross-attention mask
    [B, 1, latent_frames * tokens_per_frame, S*L] that lets the tokens of latent frames from
    `schedules[b][k]` up to the next start see only span k's L rows."""
    spans = max(len(s) for s in schedules)
    rows = emb.shape[1]
    context = emb.new_zeros(len(schedules), spans * rows, emb.shape[2])
    mask = torch.zeros(len(schedules), 1, latent_frames * tokens_per_frame, spans * rows, dtype=torch.bool,
                       device=emb.device)
    k = 0
    for b, starts in enumerate(schedules):
        ends = starts[1:] + [latent_frames]
        for j, (first, end) in enumerate(zip(starts, ends)):
            context[b, j * rows:(j + 1) * rows] = emb[k]
            mask[b, 0, first * tokens_per_frame:end * tokens_per_frame, j * rows:(j + 1) * rows] = True
            k += 1
    return context, mask


def latent_face_masks(spec: ClipSpec) -> np.ndarray:
    """Head masks of `spec` on the latent grid, bool [T_lat, H/s, W/s] (s the VAE's spatial
    factor): a latent position is in the head where any pixel of any frame it encodes is (the
    first latent frame encodes frame 0 alone, each later one the next `temporal` frames)."""
    temporal, spatial = VAE["scale_factor_temporal"], VAE["scale_factor_spatial"]
    masks = clip_faces(spec, temporal)
    t, h, w = masks.shape
    chunks = np.concatenate([masks[:1], masks[1:].reshape(-1, temporal, h, w).any(axis=1)])
    return chunks.reshape(len(chunks), h // spatial, spatial, w // spatial, spatial).any(axis=(2, 4))


def to_model_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 [..., T, H, W, 3] -> float [..., 3, T, H, W] in [-1, 1]."""
    x = frames.float().div_(127.5).sub_(1.0)
    return x.movedim(-1, -4).contiguous()


def clip_tensor(spec: ClipSpec, temporal: int) -> torch.Tensor:
    """Frames of `spec` as [3, T, H, W] in [-1, 1] (see clip_frames)."""
    return to_model_input(torch.from_numpy(clip_frames(spec, temporal)))


_worker_heldout: set[str] | None = None


def _render_training_clip(job: tuple[int, int, int]) -> tuple[dict, np.ndarray]:
    global _worker_heldout
    seed, index, temporal = job
    if _worker_heldout is None:
        _worker_heldout = heldout_prompts()
    spec, _ = sample_clip(seed, TRAIN_NAMESPACE, index, exclude_prompts=_worker_heldout)
    return spec.to_dict(), clip_frames(spec, temporal)


def render_training_clips(seed: int, indices, temporal: int, workers: int) -> list[tuple[ClipSpec, np.ndarray]]:
    """Clips `indices` of the training stream (held-out prompts redrawn) as (spec, uint8 frames),
    in order; rendered by `workers` processes (the world is numpy code, so this is what keeps a
    GPU fed)."""
    jobs = [(seed, int(i), temporal) for i in indices]
    if workers <= 1 or len(jobs) < 2 * workers:
        out = [_render_training_clip(j) for j in jobs]
    else:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            out = pool.map(_render_training_clip, jobs, chunksize=8)
    return [(ClipSpec.from_dict(d), f) for d, f in out]


def pick_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise SystemExit("--device cuda: torch sees no CUDA device")
        # TF32 matrix products and convolutions: float32 storage, faster products.
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return device


def hardware(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return f"GPU: {torch.cuda.get_device_name(device)}"
    return f"CPU, {threads} torch threads"


class PromptSource:
    """Random phrasings of a spec, never one of the held-out prompts."""

    def __init__(self):
        self.heldout = heldout_prompts()

    def __call__(self, spec: ClipSpec, rng: np.random.Generator) -> str | None:
        for _ in range(20):
            prompt = spec_to_prompt(spec, rng)
            if prompt not in self.heldout:
                return prompt
        return None


# MARK: - Tokenizer


def stage_tokenizer(args) -> None:
    import sentencepiece as spm
    from transformers import T5Tokenizer

    work = Path(args.work)
    out = work / "tokenizer"
    if (out / "tokenizer_config.json").exists() and not args.force:
        log(work, "tokenizer", note="exists, skipped", path=str(out))
        return
    heldout = heldout_prompts()
    prompts = [sample_clip(args.seed, 1, i, exclude_prompts=heldout)[1] for i in range(args.prompts)]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(prompts), model_writer=model, vocab_size=args.vocab,
        model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        normalization_rule_name="identity", num_threads=max(1, args.threads), hard_vocab_limit=False,
        character_coverage=1.0,
        minloglevel=2)
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        sp_dir = Path(tmp) / "sentencepiece"
        sp_dir.mkdir()
        (sp_dir / "spiece.model").write_bytes(model.getvalue())
        tokenizer = T5Tokenizer.from_pretrained(str(sp_dir), extra_ids=0)
        atomic_write_dir(out, lambda staged: tokenizer.save_pretrained(str(staged)))
    atomic_write_text(work / "tokenizer_info.json", json.dumps({"prompts": len(prompts), "seed": args.seed}) + "\n")
    lengths = [len(tokenizer(p)["input_ids"]) for p in prompts[:500]]
    unk = sum(tokenizer(p)["input_ids"].count(2) for p in prompts[:500])
    log(work, "tokenizer", prompts=len(prompts), vocab=len(tokenizer), mean_tokens=float(np.mean(lengths)),
        max_tokens=int(np.max(lengths)), unk_in_500=unk)


def load_tokenizer(work: Path):
    from transformers import T5Tokenizer
    path = work / "tokenizer"
    if not (path / "tokenizer_config.json").exists():
        raise SystemExit(f"{path}: no tokenizer; run the tokenizer stage first")
    return T5Tokenizer.from_pretrained(str(path))


# MARK: - VAE


def build_vae():
    from diffusers import AutoencoderKLWan
    z = VAE["z_dim"]
    return AutoencoderKLWan(**VAE, latents_mean=[0.0] * z, latents_std=[1.0] * z)


class PatchDiscriminator(torch.nn.Module):
    """Tells rendered frames from decoded ones, patch by patch: 64x64 -> 8x8 logits, each seeing
    38x38 pixels (about a close-up face). Only for training the decoder (--vae-gan-weight); it is
    not part of the saved pipeline."""

    def __init__(self, width: int = 64):
        super().__init__()
        act = torch.nn.LeakyReLU(0.2)
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(3, width, 4, 2, 1), act,
            torch.nn.Conv2d(width, 2 * width, 4, 2, 1), torch.nn.GroupNorm(8, 2 * width), act,
            torch.nn.Conv2d(2 * width, 4 * width, 4, 2, 1), torch.nn.GroupNorm(8, 4 * width), act,
            torch.nn.Conv2d(4 * width, 1, 3, 1, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net(frames)


def frames_of(clips: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """[B, 3, T, H, W] -> [B * len(index), 3, H, W]: the frames `index` of every clip."""
    picked = clips[:, :, index]
    return picked.permute(0, 2, 1, 3, 4).reshape(-1, clips.shape[1], clips.shape[3], clips.shape[4])


def stage_vae(args, minutes: float) -> None:
    work = Path(args.work)
    ckpt_path = work / "vae.pt"
    device = pick_device(args.device)
    torch.manual_seed(args.seed)
    vae = build_vae()
    # --vae-decoder-only trains the decoder (and post-quant conv) on the latents of a frozen
    # encoder: the latent space, and so the latent cache and a transformer trained on it, stay
    # valid, while the frames decoded from them get sharper and steadier.
    decoder_only = args.vae_decoder_only
    if min(args.vae_face_weight, args.vae_temporal_weight, args.vae_gan_weight, args.vae_start_weight) < 0:
        raise SystemExit("--vae-face-weight, --vae-temporal-weight, --vae-gan-weight and --vae-start-weight "
                         "must be 0 or more")
    if args.vae_anchor_weight < 0:
        raise SystemExit("--vae-anchor-weight must be 0 or more")
    if args.vae_anchor_weight > 0 and decoder_only:
        raise SystemExit("--vae-anchor-weight: not with --vae-decoder-only (the encoder is frozen there)")
    if args.vae_decoder_sample and not decoder_only:
        raise SystemExit("--vae-decoder-sample: only with --vae-decoder-only (whole-VAE runs always decode samples)")
    if args.vae_gan_weight > 0 and args.vae_gan_frames < 1:
        raise SystemExit("--vae-gan-frames must be 1 or more")
    if decoder_only:
        for module in (vae.encoder, vae.quant_conv):
            module.requires_grad_(False)
    trained = [p for p in vae.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trained, lr=args.vae_lr, weight_decay=0.0)
    opt_kind = "decoder" if decoder_only else "all"
    state = {"step": 0, "seconds": 0.0, "history": []}
    rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(10,)))
    # --vae-gan-weight: a patch discriminator learns to tell decoded frames from rendered ones,
    # and the decoder is also trained to fool it (hinge losses). L1 and L2 are lowest for the
    # average of the faces a latent could mean, a blur; the discriminator rejects blur, so the
    # decoder has to commit to sharp mouth and brow lines. It trains alone for the first
    # --vae-gan-start steps of its life, then the decoder's adversarial term is scaled so that its
    # gradient at the decoder's last layer is --vae-gan-weight times that of the reconstruction
    # loss (the adaptive weight of VQGAN-style autoencoders).
    disc = disc_opt = None
    disc_resumed = False
    if args.vae_gan_weight > 0:
        disc = PatchDiscriminator()
        disc_opt = torch.optim.AdamW(disc.parameters(), lr=args.vae_disc_lr, betas=(0.5, 0.9), weight_decay=0.0)
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False, map_location="cpu")
        vae.load_state_dict(ck["model"])
        if disc is not None and ck.get("disc") is not None:
            disc.load_state_dict(ck["disc"])
            disc_opt.load_state_dict(ck["disc_optimizer"])
            disc_resumed = True
        vae.to(device)
        # Adam moments carry over only between runs that train the same parameters.
        if ck.get("opt_kind", "all") == opt_kind:
            opt.load_state_dict(ck["optimizer"])
        state = ck["state"]
        # An imported checkpoint (see stage_import) has no random streams: they start afresh.
        if ck.get("rng") is not None:
            rng.bit_generator.state = ck["rng"]
            torch.set_rng_state(ck["torch_rng"])
        # The learning rate given to this run applies, not the one saved with the optimizer.
        for group in opt.param_groups:
            group["lr"] = args.vae_lr
        log(work, "vae", note="resumed", step=state["step"], lr=args.vae_lr)
    vae.to(device).train()
    temporal = VAE["scale_factor_temporal"]
    window = temporal * args.vae_latent_frames + 1
    # Clips that hold a whole window (a d-second clip has 8d+1 frames once padded).
    long_enough = [d for d in DURATIONS if round(d * FPS) + 1 >= window]
    if not long_enough:
        raise SystemExit(f"--vae-latent-frames {args.vae_latent_frames}: a {window}-frame window is longer "
                         f"than the longest clip ({max(DURATIONS):g} s at {FPS:g} fps)")
    # What the model card reports (the settings of the latest run of this stage).
    state.setdefault("latent_step", state["step"])
    # Decoder runs are listed one by one on the model card (see decoder_runs); the encoder's
    # hardware is kept apart from the latest run's.
    state.setdefault("latent_hardware", state.get("hardware"))
    # Once the decoder has been trained alone, a run of the whole VAE is a fine-tune of those
    # weights (a new encoder, so a new latent space): it is listed on its own (joint_runs), and
    # the first training's settings stay as the model card reports them.
    earlier_runs = decoder_runs(state)
    fine_tune = not decoder_only and bool(earlier_runs)
    run = None
    if decoder_only or fine_tune:
        run = {"from_step": state["step"], "to_step": state["step"], "batch": args.vae_batch, "window": window,
               "lr": args.vae_lr, "face_weight": args.vae_face_weight, "temporal_weight": args.vae_temporal_weight,
               "gan_weight": args.vae_gan_weight, "start_weight": args.vae_start_weight,
               "hardware": hardware(device, args.threads)}
    if decoder_only:
        run["latents"] = "sample" if args.vae_decoder_sample else "mean"
        state.setdefault("decoder_steps", 0)
        state["decoder_runs"] = earlier_runs + [run]
        state.update(decoder_batch=args.vae_batch, decoder_window=window)
    elif fine_tune:
        state["decoder_runs"] = earlier_runs
        run.update(kl_weight=args.vae_kl, anchor_weight=args.vae_anchor_weight, pool=args.pool)
        state.setdefault("joint_runs", []).append(run)
    else:
        state.update(batch=args.vae_batch, window=window, kl_weight=args.vae_kl, pool=args.pool,
                     latent_hardware=hardware(device, args.threads))
    state["threads"] = args.threads
    state["hardware"] = hardware(device, args.threads)
    # --pool N renders N training clips up front (in --workers processes) and draws the windows
    # from them; without it every window comes from a freshly rendered clip, which is as fast as
    # needed on a CPU but would leave a GPU waiting on the renderer.
    pool = None
    if args.pool > 0:
        t0 = time.time()
        rendered = render_training_clips(args.seed, range(args.pool), temporal, args.workers)
        pool = [(spec, torch.from_numpy(f).to(device)) for spec, f in rendered if f.shape[0] >= window]
        log(work, "vae", note="rendered clip pool", clips=len(pool), seconds=round(time.time() - t0, 1))
    if disc is not None:
        disc.to(device).train()
        # A new discriminator (none saved, e.g. after `import`, which does not keep one) trains
        # alone for its first --vae-gan-start steps, whatever an earlier one reached.
        if not disc_resumed:
            state["disc_steps"] = 0
        last_layer = vae.decoder.conv_out.weight
    # --vae-anchor-weight W: the encoder this run starts from, frozen; W x the squared change of
    # the posterior mean (per channel, relative to that channel's variance in the batch) keeps
    # the new latent space near the old one, so that a transformer trained on the old latents
    # needs only a short adaptation.
    anchor = None
    if args.vae_anchor_weight > 0:
        import copy
        anchor = copy.deepcopy(vae).eval()
        anchor.requires_grad_(False)
    running_anchor = []
    # --vae-start-weight W: the frames of the window's first two latent frames (the first alone,
    # then `temporal`) count (1 + W) times: every clip and every generated shot starts there, and
    # there the decoder drew faces as a blur. The same weights for every window of the run.
    start_frames = None
    if args.vae_start_weight > 0:
        start_frames = torch.ones(1, 1, window, 1, 1, device=device)
        start_frames[:, :, :1 + temporal] += args.vae_start_weight
    first_step = state["step"]  # steps of this run, for the seconds per step
    start = time.time()
    last_save = start
    running, running_gan = [], []

    def save():
        if run is not None:
            run["to_step"] = state["step"]
        state["seconds"] += time.time() - save.mark
        save.mark = time.time()
        atomic_save({"model": vae.state_dict(), "optimizer": opt.state_dict(), "opt_kind": opt_kind, "state": state,
                     "rng": rng.bit_generator.state, "torch_rng": torch.get_rng_state(), "config": VAE,
                     "disc": None if disc is None else disc.state_dict(),
                     "disc_optimizer": None if disc is None else disc_opt.state_dict()}, ckpt_path)
    save.mark = start

    while time.time() - start < minutes * 60 and (args.max_steps <= 0 or state["step"] < args.max_steps):
        clips, faces = [], []
        for _ in range(args.vae_batch):
            if pool is not None:
                spec, frames = pool[int(rng.integers(len(pool)))]
                s = int(rng.integers(0, frames.shape[0] - window + 1))
                clips.append(to_model_input(frames[s:s + window]))
            else:
                duration = float(rng.choice(long_enough))
                spec = sample_spec(rng, duration)
                x = clip_tensor(spec, temporal)
                s = int(rng.integers(0, x.shape[1] - window + 1))
                clips.append(x[:, s:s + window])
            if args.vae_face_weight > 0:
                faces.append(torch.from_numpy(clip_faces(spec, temporal)[s:s + window]))
        x = torch.stack(clips).to(device)
        if decoder_only:
            # The posterior mean is what the latent cache holds and the transformer learns; with
            # --vae-decoder-sample the decoder sees a sample of the posterior instead, latents as
            # imperfect as those a transformer produces (and as whole-VAE runs decode).
            with torch.no_grad():
                posterior = vae.encode(x).latent_dist
                z = posterior.sample() if args.vae_decoder_sample else posterior.mean
            rec = vae.decode(z).sample
        else:
            posterior = vae.encode(x).latent_dist
            rec = vae.decode(posterior.sample()).sample
        error = rec - x
        l1 = error.abs().mean()
        l2 = error.pow(2).mean()
        kl = posterior.kl().mean() / posterior.mean[0].numel()
        weight = None
        if faces:
            # Pixels of the head count (1 + face weight) times: the few pixels that show an
            # emotion (mouth, brows, eyes, tears) are what the VAE blurred away first.
            weight = 1.0 + args.vae_face_weight * torch.stack(faces).to(device, torch.float32)[:, None]
        if start_frames is not None:
            weight = start_frames if weight is None else weight * start_frames
        if weight is not None:
            weight = weight.expand_as(error)
            loss = ((error.abs() * weight).mean() + (error.pow(2) * weight).mean()) / weight.mean()
        else:
            loss = l1 + l2
        # Changes from frame to frame that the input does not have: flicker, which also reads
        # as cuts.
        flicker = (error[:, :, 1:] - error[:, :, :-1]).abs().mean()
        if args.vae_temporal_weight > 0:
            loss = loss + args.vae_temporal_weight * flicker
        if not decoder_only:
            loss = loss + args.vae_kl * kl
        if anchor is not None:
            with torch.no_grad():
                old = anchor.encode(x).latent_dist.mean
            var = old.transpose(0, 1).flatten(1).var(dim=1).clamp_min(1e-6).view(1, -1, 1, 1, 1)
            drift = ((posterior.mean - old).pow(2) / var).mean()
            loss = loss + args.vae_anchor_weight * drift
            running_anchor.append(drift.item())
        if disc is not None:
            # The same few frames of every clip, rendered and decoded.
            index = torch.from_numpy(rng.choice(window, size=min(window, args.vae_gan_frames), replace=False)).to(device)
            real, fake = frames_of(x, index), frames_of(rec, index)
            adaptive = 0.0
            if state["disc_steps"] >= args.vae_gan_start:
                disc.requires_grad_(False)
                g_loss = -disc(fake).mean()
                disc.requires_grad_(True)
                g_rec = torch.autograd.grad(loss, last_layer, retain_graph=True)[0]
                g_adv = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
                adaptive = float((g_rec.norm() / (g_adv.norm() + 1e-4)).clamp(0.0, 1e4)) * args.vae_gan_weight
                loss = loss + adaptive * g_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
        opt.step()
        if disc is not None:
            d_real, d_fake = disc(real), disc(fake.detach())
            d_loss = 0.5 * (F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean())
            disc_opt.zero_grad(set_to_none=True)
            d_loss.backward()
            disc_opt.step()
            state["disc_steps"] += 1
            running_gan.append([d_loss.item(), (d_real > 0).float().mean().item(),
                                (d_fake < 0).float().mean().item(), adaptive])
        state["step"] += 1
        if decoder_only:
            state["decoder_steps"] += 1
        else:
            state["latent_step"] = state["step"]
        running.append([l1.item(), l2.item(), kl.item(), flicker.item()])
        if state["step"] % args.log_every == 0:
            m = np.mean(running, axis=0)
            running = []
            psnr = float(10 * math.log10(4.0 / max(m[1], 1e-12)))
            state["history"].append({"step": state["step"], "l1": float(m[0]), "l2": float(m[1]),
                                     "kl": float(m[2]), "flicker": float(m[3]), "psnr": psnr})
            gan = {}
            if running_gan:
                g = np.mean(running_gan, axis=0)
                running_gan = []
                # Discriminator loss, how often it calls rendered frames real and decoded ones
                # fake (per patch), and the decoder's adaptive adversarial weight.
                gan = dict(d_loss=round(float(g[0]), 4), d_real_ok=round(float(g[1]), 3),
                           d_fake_ok=round(float(g[2]), 3), gan_scale=round(float(g[3]), 4))
            if running_anchor:
                # The posterior mean's squared change from the starting encoder, per unit variance.
                gan["drift"] = round(float(np.mean(running_anchor)), 5)
                state["history"][-1]["drift"] = gan["drift"]
                running_anchor = []
            log(work, "vae", step=state["step"], l1=round(float(m[0]), 5), l2=round(float(m[1]), 5),
                kl=round(float(m[2]), 4), flicker=round(float(m[3]), 5), psnr_db=round(psnr, 2), **gan,
                s_per_step=round((time.time() - start) / max(1, state["step"] - first_step), 3))
        if time.time() - last_save > args.save_minutes * 60:
            save()
            last_save = time.time()
    save()
    log(work, "vae", note="stopped", step=state["step"], seconds_total=round(state["seconds"], 1))


def decoder_runs(vae_state: dict) -> list[dict]:
    """The decoder-only runs of a VAE checkpoint's state; a state from before they were recorded
    one by one gets its one earlier run rebuilt from the fields it kept."""
    if "decoder_runs" in vae_state:
        return vae_state["decoder_runs"]
    if not vae_state.get("decoder_steps"):
        return []
    return [{"from_step": vae_state["step"] - vae_state["decoder_steps"], "to_step": vae_state["step"],
             "batch": vae_state.get("decoder_batch"), "window": vae_state.get("decoder_window"),
             "hardware": vae_state.get("hardware")}]


def latent_step(vae_state: dict) -> int:
    """The VAE step whose encoder defines the current latent space."""
    return int(vae_state.get("latent_step", vae_state["step"]))


def load_vae(work: Path):
    path = work / "vae.pt"
    if not path.exists():
        raise SystemExit(f"{path}: no VAE checkpoint; run the vae stage first")
    vae = build_vae()
    ck = torch.load(path, weights_only=False, map_location="cpu")
    vae.load_state_dict(ck["model"])
    return vae.eval(), ck["state"]


# MARK: - Latent cache


@torch.no_grad()
def stage_latents(args) -> None:
    """Encodes `--clips` training clips (stream seed, namespace 1, 2-8 s) with the VAE: posterior
    mean per clip (std kept for reference), grouped by duration, and the per-channel latent
    statistics. Clips of one duration are encoded `--latent-batch` at a time."""
    work = Path(args.work)
    path = work / "latents.pt"
    device = pick_device(args.device)
    vae, vae_state = load_vae(work)
    vae.to(device)
    # "vae_step" names the encoder the latents come from (decoder-only steps leave it as it is).
    encoder_step = latent_step(vae_state)
    cache = {"clips": 0, "vae_step": encoder_step, "groups": {}}
    if path.exists():
        cache = torch.load(path, weights_only=False)
        if cache["vae_step"] != encoder_step:
            log(work, "latents", note="VAE encoder changed since the cache was made; re-encoding")
            cache = {"clips": 0, "vae_step": encoder_step, "groups": {}}
    temporal = VAE["scale_factor_temporal"]
    start = time.time()
    # Clips rendered (in parallel with --workers) and saved per round.
    chunk = 200 if args.workers <= 1 else 2000
    batch = max(1, args.latent_batch)
    while cache["clips"] < args.clips:
        first = cache["clips"]
        indices = range(first, min(first + chunk, args.clips))
        by_duration: dict[float, list] = {}
        for spec, frames in render_training_clips(args.seed, indices, temporal, args.workers):
            by_duration.setdefault(spec.duration, []).append((spec, frames))
        for duration, items in by_duration.items():
            g = cache["groups"].setdefault(duration, {"mean": [], "std": [], "specs": []})
            for b in range(0, len(items), batch):
                part = items[b:b + batch]
                x = to_model_input(torch.from_numpy(np.stack([f for _, f in part])).to(device))
                dist = vae.encode(x).latent_dist
                for k, (spec, _) in enumerate(part):
                    g["mean"].append(dist.mean[k].half().cpu())
                    g["std"].append(dist.std[k].half().cpu())
                    g["specs"].append(spec.to_dict())
        cache["clips"] = indices.stop
        atomic_save(cache, path)
        log(work, "latents", clips=cache["clips"], seconds=round(time.time() - start, 1))
    means = torch.cat([m.float().flatten(1) for g in cache["groups"].values() for m in g["mean"]], dim=1)
    cache["latents_mean"] = means.mean(dim=1).tolist()
    cache["latents_std"] = means.std(dim=1).clamp_min(1e-3).tolist()
    atomic_save(cache, path)
    log(work, "latents", clips=cache["clips"], seconds=round(time.time() - start, 1),
        latents_mean=[round(v, 3) for v in cache["latents_mean"]],
        latents_std=[round(v, 3) for v in cache["latents_std"]])


# MARK: - DiT and text encoder


def build_text_encoder(vocab_size: int):
    from transformers import UMT5Config, UMT5EncoderModel
    return UMT5EncoderModel(UMT5Config(vocab_size=vocab_size, **TEXT_ENCODER))


def build_transformer():
    from diffusers import WanTransformer3DModel
    return WanTransformer3DModel(**TRANSFORMER)


def encode_prompts(tokenizer, text_encoder, prompts: list[str]) -> torch.Tensor:
    """Prompt embeddings exactly as WanPipeline makes them: encoder output of the real tokens,
    zero rows up to MAX_SEQUENCE_LENGTH."""
    tok = tokenizer(prompts, padding="longest", max_length=MAX_SEQUENCE_LENGTH, truncation=True,
                    add_special_tokens=True, return_attention_mask=True, return_tensors="pt")
    device = next(text_encoder.parameters()).device
    tok = {k: v.to(device) for k, v in tok.items()}
    hidden = text_encoder(tok["input_ids"], tok["attention_mask"]).last_hidden_state
    hidden = hidden * tok["attention_mask"][..., None].to(hidden.dtype)
    return F.pad(hidden, (0, 0, 0, MAX_SEQUENCE_LENGTH - hidden.shape[1]))


def sample_sigmas(n: int, shift: float, generator: torch.Generator) -> torch.Tensor:
    """σ of the shifted schedule the sampler walks: u ~ U(0,1) mapped by σ = s·u / (1 + (s−1)·u),
    the same shift UniPC/Euler apply to their flow sigmas, so training time is spent where
    sampling spends its steps."""
    u = torch.rand(n, generator=generator)
    return shift * u / (1 + (shift - 1) * u)


@torch.no_grad()
def ema_update(ema: dict, modules: dict, decay: float) -> None:
    """ema[name][key] <- decay * ema + (1 - decay) * weight, for every floating tensor of each
    module's state dict (integer buffers are copied)."""
    for name, module in modules.items():
        averages, values = [], []
        for key, value in module.state_dict().items():
            avg = ema[name][key]
            if avg.is_floating_point():
                averages.append(avg)
                values.append(value)
            else:
                avg.copy_(value)
        if averages:
            torch._foreach_lerp_(averages, values, 1.0 - decay)


def stage_dit(args, minutes: float) -> None:
    work = Path(args.work)
    ckpt_path = work / "dit.pt"
    if args.dit_face_weight < 0:
        raise SystemExit("--dit-face-weight must be 0 or more")
    if args.dit_word_contrast < 0 or args.dit_contrast_margin < 0:
        raise SystemExit("--dit-word-contrast and --dit-contrast-margin must be 0 or more")
    if not 0 <= args.dit_image_share <= 1:
        raise SystemExit("--dit-image-share must be within [0, 1]")
    if not 0 <= args.dit_beat_share <= 1:
        raise SystemExit("--dit-beat-share must be within [0, 1]")
    device = pick_device(args.device)
    tokenizer = load_tokenizer(work)
    cache_path = work / "latents.pt"
    if not cache_path.exists():
        raise SystemExit(f"{cache_path}: no latent cache; run the latents stage first")
    cache = torch.load(cache_path, weights_only=False)
    ck = torch.load(ckpt_path, weights_only=False, map_location="cpu") if ckpt_path.exists() else None
    # --adopt-latents: a transformer trained on the latents of another encoder (the VAE was
    # fine-tuned whole since) continues on this cache's, with this cache's normalisation.
    switched = ck is not None and ck["state"]["vae_step"] != cache["vae_step"]
    if switched and not args.adopt_latents:
        raise SystemExit(f"{ckpt_path}: trained on latents of VAE step {ck['state']['vae_step']}, but "
                         f"{cache_path} holds VAE step {cache['vae_step']}; delete one of them, or continue "
                         "on the new latents with --adopt-latents")
    # The latent normalisation: the cache's for a new run; a resumed run keeps the one its weights
    # were trained with, even if the cache has grown (more clips encoded by the same VAE) since.
    stats = ck if ck is not None and not switched else cache
    latents_mean, latents_std = stats["latents_mean"], stats["latents_std"]
    lat_mean = torch.tensor(latents_mean, device=device).view(1, -1, 1, 1, 1)
    lat_std = torch.tensor(latents_std, device=device).view(1, -1, 1, 1, 1)
    groups = {d: (torch.stack(g["mean"]).to(device), [ClipSpec.from_dict(s) for s in g["specs"]])
              for d, g in cache["groups"].items()}
    durations = sorted(groups)
    weights = np.array([len(groups[d][1]) for d in durations], dtype=np.float64)
    weights /= weights.sum()
    # --dit-face-weight W: latent positions in the character's head count 1 + W times in the loss.
    # An emotion is a few thin lines in a small face, a small share of a plain MSE: trained without
    # the weight, the transformer draws one face for happy, sad, angry and neutral and tells only
    # surprised (big eyes, a large change) apart. --dit-word-contrast uses the same head masks.
    # Masks are memoised per clip.
    face_cache: dict[tuple[float, int], torch.Tensor] = {}

    def face_masks_of(d: float, idx) -> torch.Tensor:
        """Head masks [B, T, H, W] (float) of the clips idx of duration d on the latent grid."""
        for i in idx:
            if (d, int(i)) not in face_cache:
                face_cache[(d, int(i))] = torch.from_numpy(latent_face_masks(groups[d][1][int(i)])).to(device)
        return torch.stack([face_cache[(d, int(i))] for i in idx]).to(torch.float32)

    torch.manual_seed(args.seed)
    text_encoder = build_text_encoder(len(tokenizer))
    transformer = build_transformer()
    if ck is not None:
        transformer.load_state_dict(ck["transformer"])
        text_encoder.load_state_dict(ck["text_encoder"])
    transformer.to(device)
    text_encoder.to(device)
    # --dit-beat-share: cross-attention that can give each span of latent frames its own prompt.
    span_processors = []
    if args.dit_beat_share > 0:
        for block in transformer.blocks:
            span_processors.append(SpanCrossAttention(block.attn2.processor))
            block.attn2.set_processor(span_processors[-1])
    params = list(transformer.parameters()) + list(text_encoder.parameters())
    opt = torch.optim.AdamW(params, lr=args.dit_lr, weight_decay=0.01, betas=(0.9, 0.99))
    state = {"step": 0, "seconds": 0.0, "history": [], "vae_step": cache["vae_step"]}
    rng = np.random.default_rng(np.random.SeedSequence(args.seed, spawn_key=(11,)))
    gen = torch.Generator().manual_seed(args.seed + 11)
    # On a GPU the noise is drawn there (its own generator); on the CPU from `gen`, as before.
    noise_gen = gen if device.type == "cpu" else torch.Generator(device=device).manual_seed(args.seed + 12)
    if ck is not None:
        state = ck["state"]
        if switched:
            state.setdefault("latent_switches", []).append(
                {"at_step": state["step"], "from_vae_step": state["vae_step"], "to_vae_step": cache["vae_step"]})
            state["vae_step"] = cache["vae_step"]
            log(work, "dit", note="continuing on the latents of another encoder", step=state["step"],
                vae_step=cache["vae_step"])
        # An imported checkpoint (see stage_import) has weights only: the optimizer starts afresh
        # at this step, and so does the learning-rate warm-up.
        if ck.get("optimizer") is not None:
            opt.load_state_dict(ck["optimizer"])
        else:
            state["opt_since"] = state["step"]
        if ck.get("rng") is not None:
            rng.bit_generator.state = ck["rng"]
            gen.set_state(ck["torch_gen"])
        if noise_gen is not gen and ck.get("noise_gen") is not None:
            noise_gen.set_state(ck["noise_gen"])
        log(work, "dit", note="resumed", step=state["step"])
    # Exponential moving average of the weights (what `save` exports when present): the raw
    # weights of a short, high-learning-rate run wander from step to step, and averaging them is
    # the usual way to sample from a steadier model. A checkpoint without one starts it from its
    # current weights.
    ema = None
    if args.ema > 0:
        ema = {"transformer": {k: v.detach().clone() for k, v in transformer.state_dict().items()},
               "text_encoder": {k: v.detach().clone() for k, v in text_encoder.state_dict().items()}}
        if ck is not None and ck.get("ema") is not None and not switched:
            ema = {name: {k: v.to(device) for k, v in avg.items()} for name, avg in ck["ema"].items()}
        if switched:
            # Weights of the old latent space are not averaged into the new one's.
            state["ema_since"] = state["step"]
        state.setdefault("ema_since", state["step"])
        state["ema_decay"] = args.ema
    transformer.train()
    text_encoder.train()
    state.update(clips=cache["clips"], batch=args.dit_batch, uncond=args.uncond, flow_shift=args.flow_shift,
                 threads=args.threads, hardware=hardware(device, args.threads), amp=args.amp)
    first_step = state["step"]  # steps of this run, for the seconds per step
    # One entry per run of this stage that trained, for the model card.
    run = {"from_step": first_step, "to_step": first_step, "batch": args.dit_batch, "lr": args.dit_lr,
           "lr_end": args.lr_end, "clips": cache["clips"], "amp": args.amp, "face_weight": args.dit_face_weight,
           "word_contrast": args.dit_word_contrast, "contrast_margin": args.dit_contrast_margin,
           "contrast_words": args.dit_contrast_words, "image_share": args.dit_image_share,
           "beat_share": args.dit_beat_share, "vae_step": cache["vae_step"], "hardware": state["hardware"]}
    runs = state.setdefault("runs", [])
    prompt_source = PromptSource()
    start = time.time()
    last_save = start
    running = []
    word_gaps: list[float] = []
    flows: list[float] = []  # the flow loss of contrasted steps, without the hinge
    beat_clips = [0, 0]  # clips trained with beats, clips, since the last log line
    mark = [start]

    def save():
        state["seconds"] += time.time() - mark[0]
        mark[0] = time.time()
        run["to_step"] = state["step"]
        if run["to_step"] > run["from_step"] and (not runs or runs[-1] is not run):
            runs.append(run)
        atomic_save({"transformer": transformer.state_dict(), "text_encoder": text_encoder.state_dict(),
                     "optimizer": opt.state_dict(), "state": state, "rng": rng.bit_generator.state,
                     "ema": ema, "noise_gen": None if noise_gen is gen else noise_gen.get_state(),
                     "torch_gen": gen.get_state(), "latents_mean": latents_mean,
                     "latents_std": latents_std}, ckpt_path)

    while time.time() - start < minutes * 60 and (args.max_steps <= 0 or state["step"] < args.max_steps):
        d = durations[int(rng.choice(len(durations), p=weights))]
        mean, specs = groups[d]
        idx = rng.choice(len(specs), size=min(args.dit_batch, len(specs)), replace=False)
        # The posterior mean: the posterior std of a VAE trained with a small KL weight is noise
        # the sampler never has to produce.
        x0 = (mean[torch.from_numpy(idx).to(device)].float() - lat_mean) / lat_std
        prompts = []
        for i in idx:
            p = prompt_source(specs[int(i)], rng)
            prompts.append("" if p is None or rng.random() < args.uncond else p)
        # --dit-beat-share P: a one-shot clip whose emotion changes is, in a share P of its draws,
        # told as Kinema's beats tell it: one prompt per emotion, each over its span of latent
        # frames (None: the clip's one prompt).
        schedules: list[list[tuple[int, str]] | None] = [None] * len(idx)
        if args.dit_beat_share > 0:
            for k, i in enumerate(idx):
                if prompts[k] and rng.random() < args.dit_beat_share:
                    schedules[k] = beat_schedule(specs[int(i)], x0.shape[2], prompt_source, rng)
        beat_clips[0] += sum(sch is not None for sch in schedules)
        beat_clips[1] += len(idx)
        # --dit-word-contrast: the same clips again with a prompt whose emotions, actions or word
        # order (--dit-contrast-words) are swapped (the swapped spec's phrasing; "" where the clip
        # has no prompt this step, nothing to reorder or no phrasing).
        swapped = []
        if args.dit_word_contrast > 0:
            for i, p, sch in zip(idx, prompts, schedules):
                other = swap_words(specs[int(i)], args.dit_contrast_words, rng) if p and sch is None else None
                q = prompt_source(other, rng) if other is not None else None
                swapped.append(q or "")
        contrasted = [k for k, q in enumerate(swapped) if q]
        sigma = sample_sigmas(len(idx), args.flow_shift, gen).to(device)
        noise = torch.randn(x0.shape, generator=noise_gen, device=device)
        s = sigma.view(-1, 1, 1, 1, 1)
        xt = (1 - s) * x0 + s * noise
        # --dit-image-share P: in a share P of the clips the first latent frame is given clean,
        # with timestep 0 on its tokens, and left out of the loss: image-to-video as Kinema's
        # engine (and diffusers' WanImageToVideoPipeline with expand_timesteps) runs it.
        timestep = (sigma * 1000)[:, None].expand(-1, x0.shape[2] * x0.shape[3] * x0.shape[4] // 4).clone()
        kept = torch.ones(len(idx), 1, x0.shape[2], 1, 1, device=device)
        if args.dit_image_share > 0:
            per_frame = x0.shape[3] * x0.shape[4] // 4  # tokens of one latent frame (patch 1x2x2)
            for k in range(len(idx)):
                if rng.random() < args.dit_image_share:
                    xt[k, :, 0] = x0[k, :, 0]
                    timestep[k, :per_frame] = 0
                    kept[k, :, 0] = 0
        # --amp bf16: the forward pass in bfloat16 autocast (weights, optimizer and loss stay float32).
        # With contrast, the swapped prompts of the `contrasted` clips ride in the same forward
        # pass, after the batch.
        # Clips with beats: every clip's spans side by side in one context, masked per latent frame.
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.amp == "bf16"):
            if any(sch is not None for sch in schedules):
                rows = [sch or [(0, text)] for sch, text in zip(schedules, prompts)] + \
                       [[(0, swapped[k])] for k in contrasted]
                emb = encode_prompts(tokenizer, text_encoder, [text for row in rows for _, text in row])
                emb, mask = span_contexts(emb, [[first for first, _ in row] for row in rows], x0.shape[2],
                                          x0.shape[3] * x0.shape[4] // 4)
            else:
                emb = encode_prompts(tokenizer, text_encoder, prompts + [swapped[k] for k in contrasted])
                mask = None
            sel = torch.tensor(list(range(len(idx))) + contrasted, device=device)
            for proc in span_processors:
                proc.mask = mask
            try:
                out = transformer(hidden_states=xt[sel], timestep=timestep[sel] if args.dit_image_share > 0
                                  else (sigma * 1000)[sel], encoder_hidden_states=emb, return_dict=False)[0]
            finally:
                for proc in span_processors:
                    proc.mask = None
        pred = out[:len(idx)]
        if args.dit_face_weight > 0 or contrasted:
            masks = face_masks_of(d, idx) * kept[:, 0]
        if args.dit_face_weight > 0:
            weight = (1.0 + args.dit_face_weight * masks[:, None]) * kept
            loss = ((pred.float() - (noise - x0)).pow(2) * weight).mean() / weight.mean()
        elif args.dit_image_share > 0:
            loss = ((pred.float() - (noise - x0)).pow(2) * kept).mean() / kept.mean()
        else:
            loss = F.mse_loss(pred.float(), noise - x0)
        if contrasted:
            flows.append(loss.item())
            # The head's loss with the clip's own prompt must be lower than with the swapped one
            # by --dit-contrast-margin: a hinge on the difference, scaled by --dit-word-contrast.
            k = torch.tensor(contrasted, device=device)
            target = (noise - x0)[k]
            own = head_mse(pred[k].float(), target, masks[k])
            other = head_mse(out[len(idx):].float(), target, masks[k])
            loss = loss + args.dit_word_contrast * F.relu(args.dit_contrast_margin + own - other).mean()
            word_gaps.append(((other - own) / own.clamp_min(1e-8)).mean().item())
        # Linear warm-up from the optimizer's first step, then constant, or (--lr-end) falling
        # linearly to --lr-end over this run's time budget.
        lr = args.dit_lr * min(1.0, (state["step"] - state.get("opt_since", 0) + 1) / args.warmup)
        if args.lr_end is not None:
            done = min(1.0, (time.time() - start) / (minutes * 60))
            lr *= 1.0 + (args.lr_end / args.dit_lr - 1.0) * done
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        if ema is not None:
            # Warmed-up decay (1+n)/(10+n) for the first steps n of the average, so that it does
            # not hold on to the random initial weights of a run from scratch.
            n = state["step"] - state["ema_since"]
            decay = min(args.ema, (1 + n) / (10 + n))
            ema_update(ema, {"transformer": transformer, "text_encoder": text_encoder}, decay)
        state["step"] += 1
        running.append(loss.item())
        if state["step"] % args.log_every == 0:
            m = float(np.mean(running))
            running = []
            state["history"].append({"step": state["step"], "loss": m})
            # word_gap: how much higher the head's loss was with the swapped prompt, relative;
            # flow: the flow loss alone (`loss` includes the contrast's hinge).
            extra = {"word_gap": round(float(np.mean(word_gaps)), 4),
                     "flow": round(float(np.mean(flows)), 5)} if word_gaps else {}
            if args.dit_beat_share > 0:
                # The share of clips told with beats (of all clips drawn since the last line).
                extra["beats"] = round(beat_clips[0] / max(1, beat_clips[1]), 3)
            beat_clips[:] = [0, 0]
            word_gaps.clear()
            flows.clear()
            log(work, "dit", step=state["step"], loss=round(m, 5), lr=lr,
                s_per_step=round((time.time() - start) / max(1, state["step"] - first_step), 3), **extra)
        if time.time() - last_save > args.save_minutes * 60:
            save()
            last_save = time.time()
    save()
    log(work, "dit", note="stopped", step=state["step"], seconds_total=round(state["seconds"], 1))


# MARK: - Import


TRAINING_RECORD = "training.json"


def stage_import(args) -> None:
    """Checkpoints in --work made from the pipeline saved in --model: tokenizer, VAE (vae.pt) and
    transformer + text encoder (dit.pt, whose weight average starts from the saved weights),
    with the training state recorded in the pipeline's training.json, so that the vae, latents,
    dit and save stages continue where that training stopped. Optimizer moments and random
    streams are not part of a saved pipeline: the next dit run starts them afresh (and warms its
    learning rate up again). The latent cache is not imported; run the latents stage."""
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import T5Tokenizer, UMT5EncoderModel

    work = Path(args.work)
    model = Path(args.model)
    record_path = model / TRAINING_RECORD
    if not record_path.exists():
        raise SystemExit(f"{record_path}: missing; only pipelines written by this script's save stage can be imported")
    for name in ("vae.pt", "dit.pt", "latents.pt"):
        if (work / name).exists():
            raise SystemExit(f"{work / name}: exists; import into an empty --work")
    record = json.loads(record_path.read_text())
    tokenizer = T5Tokenizer.from_pretrained(str(model / "tokenizer"))
    vae = AutoencoderKLWan.from_pretrained(str(model / "vae"), torch_dtype=torch.float32)
    text_encoder = UMT5EncoderModel.from_pretrained(str(model / "text_encoder"), dtype=torch.float32)
    transformer = WanTransformer3DModel.from_pretrained(str(model / "transformer"), torch_dtype=torch.float32)
    # The architecture must be the one this script builds (strict loads below check the shapes).
    built_vae, built_te, built_tr = build_vae(), build_text_encoder(len(tokenizer)), build_transformer()
    built_vae.load_state_dict(vae.state_dict())
    built_te.load_state_dict(text_encoder.state_dict())
    built_tr.load_state_dict(transformer.state_dict())

    atomic_write_dir(work / "tokenizer", lambda staged: tokenizer.save_pretrained(str(staged)))
    atomic_write_text(work / "tokenizer_info.json", json.dumps(record.get("tokenizer", {})) + "\n")
    vae_state = dict(record["vae"], imported_from=str(model))
    atomic_save({"model": built_vae.state_dict(), "optimizer": None, "opt_kind": None, "state": vae_state,
                 "rng": None, "torch_rng": None, "config": VAE}, work / "vae.pt")
    dit_state = dict(record["dit"], imported_from=str(model))
    weights = {"transformer": built_tr.state_dict(), "text_encoder": built_te.state_dict()}
    atomic_save({**weights, "optimizer": None, "state": dit_state, "rng": None, "torch_gen": None,
                 "noise_gen": None, "ema": {name: {k: v.clone() for k, v in w.items()} for name, w in weights.items()},
                 "latents_mean": record["latents_mean"], "latents_std": record["latents_std"]}, work / "dit.pt")
    log(work, "import", model=str(model), vae_step=vae_state["step"], dit_step=dit_state["step"])


# MARK: - Save and verify


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def stage_save(args) -> None:
    from diffusers import UniPCMultistepScheduler, WanPipeline

    work = Path(args.work)
    out = Path(args.out)
    tokenizer = load_tokenizer(work)
    vae, vae_state = load_vae(work)
    ck_path = work / "dit.pt"
    if not ck_path.exists():
        raise SystemExit(f"{ck_path}: no DiT checkpoint; run the dit stage first")
    ck = torch.load(ck_path, weights_only=False, map_location="cpu")
    dit_state = ck["state"]
    if dit_state["vae_step"] != latent_step(vae_state):
        raise SystemExit(f"{ck_path}: trained on latents of VAE step {dit_state['vae_step']}, "
                         f"but the encoder in vae.pt is from step {latent_step(vae_state)}")
    vae.register_to_config(latents_mean=ck["latents_mean"], latents_std=ck["latents_std"])
    # The weight average when the run kept one (see --ema), else the last weights.
    weights = ck.get("ema") or {"transformer": ck["transformer"], "text_encoder": ck["text_encoder"]}
    text_encoder = build_text_encoder(len(tokenizer))
    text_encoder.load_state_dict(weights["text_encoder"])
    transformer = build_transformer()
    transformer.load_state_dict(weights["transformer"])
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True,
                                        flow_shift=args.flow_shift, num_train_timesteps=1000, solver_order=2)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder.eval(), vae=vae,
                       scheduler=scheduler, transformer=transformer.eval())

    def write(staged: Path) -> int:
        pipe.save_pretrained(str(staged), safe_serialization=True)
        settings = {"width": SIZE, "height": SIZE, "frames": 33, "fps": FPS, "steps": args.steps,
                    "guidance": args.guidance, "flow_shift": args.flow_shift, "sampler": "unipc",
                    "negative_prompt": NEGATIVE_PROMPT}
        atomic_write_text(staged / "kinema.json", json.dumps(settings, indent=2) + "\n")
        info_path = work / "tokenizer_info.json"
        tok_info = json.loads(info_path.read_text()) if info_path.exists() else {}
        training = {"tokenizer": tok_info, "vae": vae_state, "dit": dit_state,
                    "latents_mean": ck["latents_mean"], "latents_std": ck["latents_std"]}
        atomic_write_text(staged / TRAINING_RECORD, json.dumps(training, indent=1) + "\n")
        total = folder_bytes(staged)
        atomic_write_text(staged / "MODEL_CARD.md", model_card(args, vae_state, dit_state, total,
                                                               len(tokenizer), tok_info.get("prompts"), settings))
        total = folder_bytes(staged)
        if total > args.max_mb * 1e6:
            raise SystemExit(f"{out}: saved pipeline is {total / 1e6:.1f} MB, over --max-mb {args.max_mb}")
        return total

    total = atomic_write_dir(out, write)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    log(work, "save", out=str(out), megabytes=round(total / 1e6, 2), transformer_params=count(transformer),
        text_encoder_params=count(text_encoder), vae_params=count(vae))


def distinct(names: list[str | None]) -> list[str]:
    """The non-empty names, each once, in the order they first appear."""
    return list(dict.fromkeys(n for n in names if n))


def model_card(args, vae_state: dict, dit_state: dict, total: int, vocab: int, prompts: int | None,
               settings: dict) -> str:
    vh = vae_state["history"][-1] if vae_state["history"] else {}
    dh = dit_state["history"][-1] if dit_state["history"] else {}
    decoder = ""
    runs_of_decoder = decoder_runs(vae_state)
    joint = vae_state.get("joint_runs", [])

    def vae_run(r: dict, label: str = "") -> str:
        loss = "L1 + L2"
        if r.get("face_weight"):
            loss += f" with the head's pixels weighted {1 + r['face_weight']:g}x"
        if r.get("start_weight"):
            loss += (f"{' and' if r.get('face_weight') else ' with'} the first "
                     f"{1 + VAE['scale_factor_temporal']} frames of each window {1 + r['start_weight']:g}x")
        if r.get("temporal_weight"):
            loss += f" + {r['temporal_weight']:g} x L1 of frame-to-frame error changes"
        if r.get("kl_weight"):
            loss += f" + {r['kl_weight']:g} x KL"
        if r.get("anchor_weight"):
            loss += f" + {r['anchor_weight']:g} x the latents' squared change from the starting encoder"
        if r.get("gan_weight"):
            loss += (f" + a patch discriminator's adversarial loss (adaptive weight x {r['gan_weight']:g}, "
                     "on single frames)")
        lr = f", lr {r['lr']:g}" if r.get("lr") is not None else ""
        # Decoder runs decode the posterior mean unless recorded otherwise.
        sampled = ", decoding posterior samples" if r.get("latents") == "sample" else ""
        return (f"steps {r['from_step']}-{r['to_step']}: {label}batch {r['batch']}, {r['window']}-frame "
                f"windows{lr}{sampled}, loss {loss}, {r['hardware']}")

    if runs_of_decoder and not joint:
        decoder = (f" Of these, the last {vae_state['decoder_steps']} trained the decoder alone on the frozen "
                   f"encoder of step {latent_step(vae_state)}: "
                   + "; ".join(vae_run(r) for r in runs_of_decoder) + ".")
    elif joint:
        # Decoder-alone and whole-VAE runs, in the order they ran.
        later = sorted([(r, "the decoder alone, ") for r in runs_of_decoder] + [(r, "encoder and decoder, ")
                                                                                 for r in joint],
                       key=lambda item: item[0]["from_step"])
        decoder = (" Later runs, from the weights before them: "
                   + "; ".join(vae_run(r, label) for r, label in later)
                   + f". The latent space is that of the encoder of step {latent_step(vae_state)}.")
    vae_hardware = distinct([vae_state.get("latent_hardware") or vae_state.get("hardware")]
                            + [r.get("hardware") for r in runs_of_decoder + joint])
    clips = (f"a pool of {vae_state['pool']} rendered clips" if vae_state.get("pool")
             else "freshly rendered clips")
    runs = ""
    if len(dit_state.get("runs", [])) > 1:
        parts = []
        for r in dit_state["runs"]:
            lr = f"lr {r['lr']:g}" + (f" falling to {r['lr_end']:g}" if r.get("lr_end") is not None else "")
            amp = ", bf16 autocast" if r.get("amp") == "bf16" else ""
            if r.get("face_weight"):
                amp += f", head latents weighted {1 + r['face_weight']:g}x"
            if r.get("word_contrast"):
                words = {"emotions": "emotion-word", "actions": "action-word", "both": "emotion- and action-word",
                         "order": "word-order"}[r.get("contrast_words", "emotions")]
                amp += f", {words} contrast {r['word_contrast']:g} (margin {r['contrast_margin']:g})"
            if r.get("image_share"):
                amp += f", the first latent frame given clean in {r['image_share']:.0%} of clips (image-to-video)"
            if r.get("beat_share"):
                amp += (f", one prompt per emotion over its latent frames (beats) in {r['beat_share']:.0%} "
                        "of the draws of one-shot clips whose emotion changes")
            switch = [w for w in dit_state.get("latent_switches", []) if w["at_step"] == r["from_step"]]
            if switch:
                amp += f", from here on the latents of the VAE encoder of step {switch[-1]['to_vae_step']}"
            parts.append(f"steps {r['from_step']}-{r['to_step']}: batch {r['batch']}, {lr}, "
                         f"{r['clips']} clips{amp}, {r['hardware']}")
        runs = " Runs: " + "; ".join(parts) + "."
    # Every machine the transformer's runs used, in order (a state without runs: its own).
    dit_hardware = distinct([r.get("hardware") for r in dit_state.get("runs", [])] + [dit_state.get("hardware")])
    ema = ""
    if dit_state.get("ema_decay"):
        ema = (f" The exported weights are the exponential moving average kept from step "
               f"{dit_state.get('ema_since')} on (decay {dit_state['ema_decay']} in the latest run).")
    return f"""# Kinema-Tiny

A small text-to-video model in the Wan2.1 architecture (diffusers `WanPipeline` layout), trained
from scratch on the synthetic acting world of `tools/acting-world`: one cartoon character (six
colours, five emotions, standing, walking left or right, jumping; close-up or wide shot; seven
plain backgrounds; up to three shots with hard cuts) at 64x64 pixels, 8 fps, 2-8 s.

## Components

- Tokenizer: SentencePiece unigram, {vocab} pieces, trained on {prompts} generated prompts
  (identity normalizer: the model knows the prompt language of `tools/acting-world/prompts.py`
  and little else; words outside it fall back to single characters or `<unk>`).
- Text encoder: UMT5 encoder, {TEXT_ENCODER['num_layers']} layers, width {TEXT_ENCODER['d_model']},
  trained from scratch jointly with the transformer (no pre-training).
- VAE: `AutoencoderKLWan`, base_dim {VAE['base_dim']}, z_dim {VAE['z_dim']}, dim_mult {VAE['dim_mult']},
  temporal compression 4, spatial compression 4 (Wan: 8; at 64 px an 8x grid is too coarse for
  faces in wide shots). Frame counts are 4k+1.
- Transformer: `WanTransformer3DModel`, {TRANSFORMER['num_layers']} layers,
  {TRANSFORMER['num_attention_heads']} heads of {TRANSFORMER['attention_head_dim']}, FFN {TRANSFORMER['ffn_dim']}, patch 1x2x2.
- Scheduler: UniPC, flow prediction, flow sigmas, shift {args.flow_shift}.

## Training

- VAE: {vae_state['step']} steps ({vae_state['seconds'] / 60:.1f} min), batch {vae_state.get('batch')} random
  {vae_state.get('window')}-frame windows of {clips}; loss L1 + L2 + {vae_state.get('kl_weight')} x KL.{decoder}
  Last logged: {json.dumps(vh)}.
- Transformer + text encoder: {dit_state['step']} steps ({dit_state['seconds'] / 60:.1f} min), batch
  {dit_state.get('batch')}, on VAE latents of {dit_state.get('clips')} rendered clips, each step with a fresh
  random phrasing of the clip's prompt; {dit_state.get('uncond')} of prompts empty for classifier-free
  guidance. Rectified flow: x_t = (1-s) x0 + s e, target e - x0, timestep 1000 s, s drawn
  uniformly and shifted by {dit_state.get('flow_shift')}.{runs}{ema} Last logged: {json.dumps(dh)}.
- Seed {args.seed}; held-out prompts (`tools/acting-world/heldout.jsonl`) never used.
- Hardware: VAE on {' then '.join(vae_hardware) or 'CPU'}; transformer and text encoder on
  {' then '.join(dit_hardware) or f"CPU, {dit_state.get('threads')} torch threads"}.

Reproduce (from the repository root, with the virtualenv of tools/reference/setup-venv.sh):

    make train-tiny

(`tools/train-tiny/recipe.sh`: its GPU stages where torch sees a CUDA GPU, its 2-core CPU
stages otherwise; the hardware line above says which made these weights.)

## Recommended settings (kinema.json)

{json.dumps(settings)}

## What it can and cannot do

It only knows the acting world: prompts outside that vocabulary give arbitrary cartoon frames.
How well it follows colour, emotion, motion, framing and cut timing is measured by the judge
in `tools/acting-world/judge` on the held-out prompts (`make eval-tiny`, one prompt per clip;
`make eval-tiny EVAL_ARGS=--shots`, shot by shot; `--beats`, with beats; `--image`, from the
world's first frame), and how much of that the VAE alone lets through by `make eval-tiny
EVAL_ARGS=--vae-ceiling`; each writes its tables into this card. Size of this folder: {total / 1e6:.1f} MB.
"""


@torch.no_grad()
def stage_verify(args) -> None:
    from diffusers import WanPipeline
    work = Path(args.work)
    pipe = WanPipeline.from_pretrained(args.out, dtype=torch.float32)
    prompt = "A blue character smiles in a close-up, then looks sad at 1 second."
    start = time.time()
    video = pipe(prompt=prompt, negative_prompt=NEGATIVE_PROMPT, height=SIZE, width=SIZE, num_frames=17,
                 num_inference_steps=args.steps, guidance_scale=args.guidance,
                 generator=torch.Generator().manual_seed(args.seed), output_type="np").frames[0]
    frames = (np.clip(video, 0, 1) * 255).round().astype(np.uint8)
    np.savez_compressed(work / "verify.npz", frames=frames, fps=np.float32(FPS))
    log(work, "verify", prompt=prompt, shape=list(frames.shape), seconds=round(time.time() - start, 1),
        mean=round(float(frames.mean()), 2), std=round(float(frames.std()), 2),
        frame_to_frame=round(float(np.abs(np.diff(frames.astype(np.float32), axis=0)).mean()), 2))


# MARK: - Command line


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("stage", choices=["tokenizer", "import", "vae", "latents", "dit", "save", "verify", "all"])
    p.add_argument("--work", default="out/train-tiny", help="checkpoints, caches and log.jsonl")
    p.add_argument("--out", default="models/kinema-tiny", help="where `save` writes the pipeline")
    p.add_argument("--minutes", type=float, default=180.0,
                   help="time budget of the vae or dit stage; for `all`, split by --vae-share")
    p.add_argument("--vae-share", type=float, default=0.25, help="share of --minutes for the VAE in `all`")
    p.add_argument("--max-steps", type=int, default=0, help="stop a training stage after this many steps (0: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (cuda when torch sees one)")
    p.add_argument("--workers", type=int, default=1, help="processes that render clips (--pool, latents)")
    p.add_argument("--pool", type=int, default=0,
                   help="vae: draw windows from this many clips rendered up front (0: a fresh clip per window)")
    p.add_argument("--latent-batch", type=int, default=1, help="latents: clips of one duration encoded at once")
    p.add_argument("--prompts", type=int, default=50000, help="prompts the tokenizer is trained on")
    p.add_argument("--vocab", type=int, default=TOKENIZER_VOCAB)
    p.add_argument("--vae-batch", type=int, default=4)
    p.add_argument("--vae-latent-frames", type=int, default=10,
                   help="training window: 4*k+1 frames; short windows let the colours of long clips drift")
    p.add_argument("--vae-lr", type=float, default=3e-4)
    p.add_argument("--vae-decoder-only", action="store_true",
                   help="train only the decoder on a frozen encoder (keeps the latent cache valid)")
    p.add_argument("--vae-decoder-sample", action="store_true",
                   help="with --vae-decoder-only: decode samples of the posterior instead of its mean")
    p.add_argument("--vae-face-weight", type=float, default=0.0,
                   help="extra weight of the pixels of the character's head in the VAE loss (0: none)")
    p.add_argument("--vae-start-weight", type=float, default=0.0,
                   help="extra weight of the frames of each window's first two latent frames in the VAE loss (0: none)")
    p.add_argument("--vae-temporal-weight", type=float, default=0.0,
                   help="weight of the L1 of frame-to-frame changes of the reconstruction error (0: none)")
    p.add_argument("--vae-gan-weight", type=float, default=0.0,
                   help="adversarial loss from a patch discriminator, relative to the reconstruction loss "
                        "at the decoder's last layer (0: none)")
    p.add_argument("--vae-gan-start", type=int, default=200,
                   help="steps the discriminator trains alone before the decoder sees its loss")
    p.add_argument("--vae-gan-frames", type=int, default=8, help="frames of each window shown to the discriminator")
    p.add_argument("--vae-disc-lr", type=float, default=2e-4)
    p.add_argument("--vae-kl", type=float, default=1e-3, help="weight of the per-latent-element KL")
    p.add_argument("--vae-anchor-weight", type=float, default=0.0,
                   help="whole-VAE runs: weight of the posterior mean's squared change from the starting encoder")
    p.add_argument("--clips", type=int, default=1000, help="clips encoded for the DiT stage")
    p.add_argument("--dit-batch", type=int, default=8)
    p.add_argument("--dit-lr", type=float, default=3e-4)
    p.add_argument("--dit-face-weight", type=float, default=0.0,
                   help="extra weight of the latent positions of the character's head in the DiT loss (0: none)")
    p.add_argument("--dit-image-share", type=float, default=0.0,
                   help="share of clips trained as image-to-video: first latent frame clean at timestep 0, "
                        "out of the loss (0: none)")
    p.add_argument("--dit-word-contrast", type=float, default=0.0,
                   help="weight of the word contrast: the head's loss with the clip's prompt must be lower "
                        "than with its emotions, actions or word order (--dit-contrast-words) swapped, by "
                        "--dit-contrast-margin (0: none)")
    p.add_argument("--dit-contrast-margin", type=float, default=0.02,
                   help="margin of the word contrast, in the units of the head's mean squared error")
    p.add_argument("--dit-contrast-words", choices=["emotions", "actions", "both", "order"], default="emotions",
                   help="what the word contrast swaps in the prompt: the emotions, the actions (left/right, "
                        "still/jump), either at random per clip, or the order (the same actions and emotions "
                        "rotated among the shots and emotion events)")
    p.add_argument("--dit-beat-share", type=float, default=0.0,
                   help="share of the draws of one-shot clips whose emotion changes that are told as the "
                        "engine's beats: one prompt per emotion, each attended to by its span of latent frames "
                        "(0: none)")
    p.add_argument("--adopt-latents", action="store_true",
                   help="dit: continue a transformer on the latents of a VAE encoder it was not trained on")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--lr-end", type=float, default=None,
                   help="dit: fall linearly from --dit-lr to this over the run's --minutes (default: constant)")
    p.add_argument("--amp", choices=["none", "bf16"], default="none",
                   help="dit: forward pass in bfloat16 autocast (for GPUs)")
    p.add_argument("--model", help="import: the saved pipeline to continue training")
    p.add_argument("--ema", type=float, default=0.998,
                   help="decay of the weight average the DiT stage keeps and `save` exports (0: none)")
    p.add_argument("--uncond", type=float, default=0.1, help="share of empty prompts (guidance dropout)")
    p.add_argument("--flow-shift", type=float, default=FLOW_SHIFT)
    p.add_argument("--steps", type=int, default=20, help="sampling steps recommended and used by verify")
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--max-mb", type=float, default=30.0)
    p.add_argument("--log-every", type=int, default=10)
    p.add_argument("--save-minutes", type=float, default=5.0)
    p.add_argument("--force", action="store_true", help="retrain the tokenizer even if it exists")
    args = p.parse_args(argv)

    torch.set_num_threads(max(1, args.threads))
    Path(args.work).mkdir(parents=True, exist_ok=True)
    if args.stage in ("tokenizer", "all"):
        stage_tokenizer(args)
    if args.stage == "import":
        if not args.model:
            raise SystemExit("import: --model DIR is required")
        stage_import(args)
    # Once the DiT has started training on its latents, the VAE is frozen: `all` resumes the DiT.
    frozen = args.stage == "all" and (Path(args.work) / "dit.pt").exists()
    if args.stage == "vae" or (args.stage == "all" and not frozen):
        stage_vae(args, args.minutes * (args.vae_share if args.stage == "all" else 1.0))
    if args.stage == "latents" or (args.stage == "all" and not frozen):
        stage_latents(args)
    if args.stage in ("dit", "all"):
        stage_dit(args, args.minutes * ((1 - args.vae_share) if args.stage == "all" else 1.0))
    if args.stage in ("save", "all"):
        stage_save(args)
    if args.stage in ("verify", "all"):
        stage_verify(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
