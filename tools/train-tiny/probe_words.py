#!/usr/bin/env python3
"""Does the transformer use the emotion (or action) words? Its denoising loss on the head, prompt
by prompt.

    python tools/train-tiny/probe_words.py [--words emotions|actions|shots] [--model models/kinema-tiny]
                                           [--colours 3] [--draws 2] [--threads 2]

--words emotions (the default): for each emotion, a 2-second close-up of a character standing
still with that emotion is rendered, and the prompts are "A close-up of a <colour> character
standing still, looking <word>." (`emotion_words.py`'s prompt), which differ only in the emotion
word. --words actions: for each action (still, left, right, jump), a 2-second wide shot of a
calm character doing it (walking across 0.3 of the frame), and the prompts "A wide shot of a
<colour> character <standing still / walking to the left / walking to the right / jumping>."
--words shots: for each ordered pair of different actions, a 4-second clip of two wide shots
cut at 2 s (the first action, then the second, on another background), told in the order shown
and in the swapped order; a transformer that binds each action to its own shot does better with
the order shown (chance: half the trials).
Each clip (one per colour, the first --colours of the world's) is encoded with the model's VAE
(posterior mean, normalised as WanPipeline does) and noised at σ = 0.3, 0.5, 0.7 and 0.9
(--draws noise draws each), and the transformer predicts the flow once per prompt. The squared
error of each prediction is averaged over the head's latent positions (`latent_face_masks`),
which for a moving clip follow the head.

A transformer that reads the word does best with the clip's own word: the diagonal of the
table is the lowest in its row, the "diffusion classifier" (the prompt with the lowest loss)
names the clip's emotion or action, and the margin (the nearest other prompt's loss over the own
prompt's, minus one) is above zero. One that ignores the word scores chance (one in the number
of words) and margins near zero, or below.
This reads the transformer alone, in about a minute, where `emotion_words.py` generates clips
and reads them with the judge (VAE decoder and sampler included) in several.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import train  # noqa: E402
from emotion_words import prompt_for  # noqa: E402
from prompts import ACTION_GER, EMOTION_ADJ  # noqa: E402
from world import ACTIONS, COLOURS, EMOTIONS, ClipSpec, EmotionEvent, Shot  # noqa: E402

SIGMAS = (0.3, 0.5, 0.7, 0.9)
DURATION = 2.0
# Where the head starts and ends in the actions' wide shots (normalised x).
ACTION_X = {"still": (0.5, 0.5), "jump": (0.5, 0.5), "left": (0.65, 0.35), "right": (0.35, 0.65)}


def emotion_clip(emotion: str, colour: str) -> ClipSpec:
    return ClipSpec(colour=colour, duration=DURATION, shots=[
        Shot(0.0, DURATION, "closeup", "still", "white", [EmotionEvent(0.0, emotion)])])


def action_clip(action: str, colour: str) -> ClipSpec:
    x0, x1 = ACTION_X[action]
    return ClipSpec(colour=colour, duration=DURATION, shots=[
        Shot(0.0, DURATION, "wide", action, "white", [EmotionEvent(0.0, "neutral")], x_start=x0, x_end=x1)])


def action_prompt(action: str, colour: str) -> str:
    return f"A wide shot of a {colour} character {ACTION_GER[action][0]}."


CUT = 2.0  # --words shots: the cut of the two-shot clips, seconds


def two_shot_clip(first: str, second: str, colour: str) -> ClipSpec:
    (a0, a1), (b0, b1) = ACTION_X[first], ACTION_X[second]
    return ClipSpec(colour=colour, duration=2 * CUT, shots=[
        Shot(0.0, CUT, "wide", first, "white", [EmotionEvent(0.0, "neutral")], x_start=a0, x_end=a1),
        Shot(CUT, 2 * CUT, "wide", second, "sky", [EmotionEvent(CUT, "neutral")], x_start=b0, x_end=b1)])


def two_shot_prompt(first: str, second: str, colour: str) -> str:
    return (f"A wide shot of a {colour} character {ACTION_GER[first][0]}. At {CUT:g} seconds, the video cuts "
            f"to a wide shot of the character {ACTION_GER[second][0]}.")


@torch.no_grad()
def order_losses(tokenizer, text_encoder, transformer, vae, colours: list[str], draws: int, seed: int
                 ) -> tuple[dict[tuple[str, str], tuple[float, float]], np.ndarray]:
    """--words shots: per ordered pair of actions, the mean head loss with the prompt in the order
    shown and in the swapped order, and per (clip, σ, draw) whether the order shown was lower."""
    gen = torch.Generator().manual_seed(seed)
    pairs = [(a, b) for a in ACTIONS for b in ACTIONS if a != b]
    sums = {pair: np.zeros(2) for pair in pairs}
    correct = []
    for colour in colours:
        for first, second in pairs:
            emb = train.encode_prompts(tokenizer, text_encoder, [two_shot_prompt(first, second, colour),
                                                                 two_shot_prompt(second, first, colour)])
            for loss in noised_head_losses(transformer, vae, two_shot_clip(first, second, colour), emb, draws, gen):
                sums[(first, second)] += loss
                correct.append(bool(loss[0] < loss[1]))
    n = len(colours) * len(SIGMAS) * draws
    return {pair: (float(v[0] / n), float(v[1] / n)) for pair, v in sums.items()}, np.array(correct)


# --words: the words compared, the clip showing each, the prompt naming each, its column name.
WORDS = {
    "emotions": (EMOTIONS, emotion_clip, prompt_for, lambda e: EMOTION_ADJ[e][0]),
    "actions": (ACTIONS, action_clip, action_prompt, lambda a: ACTION_GER[a][0]),
}


def load(model: Path):
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import AutoTokenizer, UMT5EncoderModel

    for part in ("vae", "transformer", "text_encoder", "tokenizer"):
        if not (model / part).is_dir():
            raise SystemExit(f"{model}: no {part}/ folder; expected a saved WanPipeline (diffusers layout)")
    return (AutoTokenizer.from_pretrained(str(model / "tokenizer")),
            UMT5EncoderModel.from_pretrained(str(model / "text_encoder")).eval(),
            WanTransformer3DModel.from_pretrained(str(model / "transformer")).eval(),
            AutoencoderKLWan.from_pretrained(str(model / "vae")).eval())


@torch.no_grad()
def noised_head_losses(transformer, vae, spec: ClipSpec, emb: torch.Tensor, draws: int,
                       gen: torch.Generator) -> list[np.ndarray]:
    """`spec` encoded with the VAE (posterior mean, normalised as WanPipeline does) and noised at
    each of SIGMAS `draws` times; for each noising, the head loss of the flow prediction under each
    of the prompt embeddings `emb` [P, L, D], as an array [P]."""
    mean = torch.tensor(vae.config.latents_mean).view(1, -1, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, -1, 1, 1, 1)
    x0 = (vae.encode(train.clip_tensor(spec, vae.config.scale_factor_temporal)[None]).latent_dist.mean - mean) / std
    head = torch.from_numpy(train.latent_face_masks(spec)).float()
    if head.shape != x0.shape[2:] or head.sum() == 0:
        raise SystemExit(f"head mask {tuple(head.shape)} does not fit latents {tuple(x0.shape)}")
    n = emb.shape[0]
    losses = []
    for sigma in SIGMAS:
        for _ in range(draws):
            noise = torch.randn(x0.shape, generator=gen)
            xt = ((1 - sigma) * x0 + sigma * noise).expand(n, -1, -1, -1, -1)
            pred = transformer(hidden_states=xt, timestep=torch.full((n,), sigma * 1000.0),
                               encoder_hidden_states=emb, return_dict=False)[0]
            losses.append(train.head_mse(pred, noise - x0, head).numpy())
    return losses


@torch.no_grad()
def head_losses(tokenizer, text_encoder, transformer, vae, colours: list[str], draws: int, seed: int,
                words: str = "emotions") -> tuple[np.ndarray, np.ndarray]:
    """Mean head loss [clip's word, prompted word] and, per (clip, σ, draw), whether the clip's
    own prompt had the lowest loss."""
    names, clip_for, prompt_of, _ = WORDS[words]
    gen = torch.Generator().manual_seed(seed)
    total = np.zeros((len(names), len(names)))
    correct = []
    for colour in colours:
        emb = train.encode_prompts(tokenizer, text_encoder, [prompt_of(w, colour) for w in names])
        for row, word in enumerate(names):
            for loss in noised_head_losses(transformer, vae, clip_for(word, colour), emb, draws, gen):
                total[row] += loss
                correct.append(int(loss.argmin()) == row)
    return total / (len(colours) * len(SIGMAS) * draws), np.array(correct)


def report(losses: np.ndarray, correct: np.ndarray, words: str = "emotions") -> dict:
    names = WORDS[words][0]
    own = np.diag(losses)
    nearest = np.where(np.eye(len(names), dtype=bool), np.inf, losses).min(1)
    margins = nearest / own - 1.0
    return {"accuracy": float(correct.mean()), "margin": float(margins.mean()),
            "per_word_margin": {w: float(margins[i]) for i, w in enumerate(names)}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--words", choices=list(WORDS) + ["shots"], default="emotions")
    ap.add_argument("--model", type=Path, default=HERE.parent.parent / "models" / "kinema-tiny")
    ap.add_argument("--colours", type=int, default=3, help=f"the first N of the world's {len(COLOURS)} colours")
    ap.add_argument("--draws", type=int, default=2, help="noise draws per clip and σ")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    if not 1 <= args.colours <= len(COLOURS):
        raise SystemExit(f"--colours: 1 to {len(COLOURS)}")
    if args.draws < 1:
        raise SystemExit("--draws: at least 1")
    torch.set_num_threads(args.threads)
    colours = list(COLOURS)[:args.colours]
    if args.words == "shots":
        losses, correct = order_losses(*load(args.model), colours, args.draws, args.seed)
        print(f"head loss of the flow prediction on two wide shots cut at {CUT:g} s ({', '.join(colours)}), "
              f"σ {SIGMAS}, {args.draws} draws; model {args.model}")
        print("| first shot, second shot | order shown | order swapped | margin |")
        print("|---|---|---|---|")
        for (first, second), (own, swapped) in losses.items():
            print(f"| {first}, {second} | {own:.4f} | {swapped:.4f} | {swapped / own - 1:+.1%} |")
        margins = [swapped / own - 1 for own, swapped in losses.values()]
        print(f"\norder shown lowest: {correct.mean():.1%} of {len(correct)} (chance 50%); "
              f"mean margin {np.mean(margins):+.2%}")
        return 0
    names, _, _, column = WORDS[args.words]
    losses, correct = head_losses(*load(args.model), colours, args.draws, args.seed, args.words)
    result = report(losses, correct, args.words)
    clips = "still close-ups" if args.words == "emotions" else "wide shots"
    print(f"head loss of the flow prediction on {clips} ({', '.join(colours)}), σ {SIGMAS}, "
          f"{args.draws} draws; rows: the clip's {args.words[:-1]}, columns: the prompt's word; model {args.model}")
    print("| clip \\ prompt | " + " | ".join(column(w) for w in names) + " | margin to the nearest |")
    print("|---" * (len(names) + 2) + "|")
    for i, w in enumerate(names):
        print(f"| {w} | " + " | ".join(f"{v:.4f}" for v in losses[i])
              + f" | {result['per_word_margin'][w]:+.1%} |")
    print(f"\nown word lowest (diffusion classifier): {result['accuracy']:.1%} of {len(correct)} "
          f"(chance {1 / len(names):.0%}); mean margin {result['margin']:+.2%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
