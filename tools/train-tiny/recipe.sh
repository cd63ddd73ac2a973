#!/bin/bash
# The exact sequences of stages that trained Kinema-Tiny: on one GPU (TRAIN_DEVICE=cuda, or
# auto when torch sees one; the committed models/kinema-tiny: about 20 minutes of stages on an
# H200 in two sittings, a decoder-only sitting of 55 minutes on 2 CPU cores, about 9 minutes
# on an H100, 50 minutes of transformer steps on 2 CPU cores, about 9 minutes of transformer
# steps on an H100, then 8 minutes on an H100 that fine-tuned the whole VAE and moved the
# transformer onto its latents) or on 2 CPU cores (the
# default; about 4 hours, a weaker model whose scores the README lists). Every stage is
# time-budgeted, so a rerun on another machine reaches a different step count; the model card
# records the steps this run reached.
#
#   [TRAIN_DEVICE=cuda|auto|cpu] tools/train-tiny/recipe.sh PYTHON [WORK] [OUT]   (make train-tiny)
#
# WORK (default out/train-tiny) keeps all state, and each stage resumes from its checkpoint and
# trains for --minutes more: start from an empty WORK to reproduce the model (an interrupted
# run can be finished by running the remaining stages by hand).
set -euo pipefail
PY=${1:?usage: recipe.sh PYTHON [WORK] [OUT]}
W=${2:-out/train-tiny}
OUT=${3:-models/kinema-tiny}
T="$(dirname "$0")/train.py"
THREADS=${TRAIN_THREADS:-2}
# TRAIN_DEVICE=cuda (or auto, when torch sees a GPU) runs the GPU stages below instead.
DEVICE=${TRAIN_DEVICE:-cpu}
if [ "$DEVICE" = auto ]; then
    DEVICE=$("$PY" -c 'import torch; print("cuda" if torch.cuda.is_available() else "cpu")')
fi

if [ "$DEVICE" = cuda ]; then
    # The stages that produced the committed model, on one NVIDIA H200, in two sittings. First
    # (about 7 minutes of stages plus start-up) everything from scratch with batches a CPU
    # cannot afford; clips are rendered up front by WORKERS processes. (The tokenizer stage is
    # the CPU recipe's; it needs the transformers of tools/reference/setup-venv.sh: 5.17 fails to
    # load a SentencePiece model with the identity normalizer.)
    WORKERS=${TRAIN_WORKERS:-$(( $(nproc) > 2 ? $(nproc) - 1 : 1 ))}
    G=(--device cuda --threads "$THREADS" --workers "$WORKERS")
    "$PY" "$T" tokenizer --work "$W" --prompts 20000 --threads "$THREADS"
    "$PY" "$T" vae --work "$W" "${G[@]}" --pool 4000 --minutes 1.0 --vae-batch 16 --vae-latent-frames 2 --vae-lr 1e-3 --log-every 50
    "$PY" "$T" vae --work "$W" "${G[@]}" --pool 4000 --minutes 0.75 --vae-batch 8 --vae-latent-frames 8 --vae-lr 5e-4 --log-every 50
    "$PY" "$T" vae --work "$W" "${G[@]}" --pool 4000 --minutes 0.5 --vae-batch 4 --vae-latent-frames 16 --vae-lr 2e-4 --log-every 50
    "$PY" "$T" latents --work "$W" "${G[@]}" --clips 6000 --latent-batch 32
    "$PY" "$T" dit --work "$W" "${G[@]}" --minutes 2.5 --dit-batch 64 --dit-lr 8e-4 --warmup 200 --ema 0.999 --log-every 100
    "$PY" "$T" save --work "$W" --out "$OUT"
    # Second sitting (about 13 minutes of stages), continued from the pipeline saved above (the
    # first sitting's work folder was not kept: `import` turns the saved pipeline back into
    # checkpoints, with fresh optimizer state). 8,000 clips encoded; the transformer (bf16
    # autocast, learning rate falling linearly) and the VAE decoder alone trained side by side on
    # the one GPU, then the transformer alone once more.
    W2="$W-continued"
    "$PY" "$T" import --work "$W2" --model "$OUT"
    "$PY" "$T" latents --work "$W2" "${G[@]}" --clips 8000 --latent-batch 64
    "$PY" "$T" dit --work "$W2" "${G[@]}" --minutes 6.13 --dit-batch 64 --dit-lr 8e-4 --lr-end 5e-5 --warmup 200 \
        --ema 0.999 --amp bf16 --log-every 100 --save-minutes 1 &
    DIT=$!
    "$PY" "$T" vae --work "$W2" "${G[@]}" --pool 4000 --vae-decoder-only --minutes 5.83 --vae-batch 8 --vae-latent-frames 8 \
        --vae-lr 3e-4 --log-every 50 --save-minutes 1
    wait "$DIT"
    "$PY" "$T" dit --work "$W2" "${G[@]}" --minutes 3.5 --dit-batch 64 --dit-lr 3e-4 --lr-end 3e-5 --warmup 200 \
        --ema 0.999 --amp bf16 --log-every 100 --save-minutes 1
    # Recommended guidance 3.5: the best mean of the four headline scores over guidance 2.5, 3.5
    # and 5 on 48 validation prompts (generate.py --count 48 --seed 1), not the held-out ones.
    "$PY" "$T" save --work "$W2" --out "$OUT" --guidance 3.5
    # Third sitting, on 2 CPU cores: the VAE decoder alone, continued from the pipeline saved
    # above, with the head's pixels weighted 4x and frame-to-frame flicker penalised; encoder,
    # latent space and transformer stay as they are. (A further 25 minutes on whole 8-second
    # clips at 1e-4 lowered the colour of generated validation clips and was not kept.)
    W3="$W-decoder"
    "$PY" "$T" import --work "$W3" --model "$OUT"
    "$PY" "$T" vae --work "$W3" --device cpu --threads 2 --vae-decoder-only --minutes 55 --vae-batch 2 \
        --vae-latent-frames 8 --vae-lr 3e-4 --vae-face-weight 3 --vae-temporal-weight 1 --log-every 50 --save-minutes 10
    "$PY" "$T" save --work "$W3" --out "$OUT" --guidance 3.5
    # Fourth sitting, on one NVIDIA H100 (about 9 minutes of stages), continued from the pipeline
    # saved above: the VAE decoder alone with a patch discriminator's adversarial loss added to
    # the third sitting's losses, side by side with 10,000 clips encoded and the transformer +
    # text encoder trained on (the same latent space), then the transformer once more at a lower
    # rate. The same choice of guidance on the validation prompts now gives 2.5 (2.5 / 3.5 / 5:
    # mean of the four headline scores 49.8 / 49.4 / 48.5 %).
    W4="$W-adversarial"
    "$PY" "$T" import --work "$W4" --model "$OUT"
    "$PY" "$T" vae --work "$W4" "${G[@]}" --pool 4000 --vae-decoder-only --minutes 7.15 --vae-batch 8 \
        --vae-latent-frames 8 --vae-lr 1e-4 --vae-face-weight 3 --vae-temporal-weight 1 --vae-gan-weight 0.5 \
        --vae-gan-start 300 --log-every 50 --save-minutes 0.5 &
    VAE_RUN=$!
    "$PY" "$T" latents --work "$W4" "${G[@]}" --clips 10000 --latent-batch 64
    "$PY" "$T" dit --work "$W4" "${G[@]}" --minutes 5.5 --dit-batch 64 --dit-lr 5e-4 --lr-end 3e-5 --warmup 200 \
        --ema 0.999 --amp bf16 --log-every 100 --save-minutes 1
    wait "$VAE_RUN"
    "$PY" "$T" dit --work "$W4" "${G[@]}" --minutes 3.1 --dit-batch 64 --dit-lr 1.5e-4 --lr-end 2e-5 --warmup 200 \
        --ema 0.999 --amp bf16 --log-every 200 --save-minutes 1
    "$PY" "$T" save --work "$W4" --out "$OUT" --guidance 2.5
    # Fifth sitting, on 2 CPU cores (50 minutes of transformer steps): the transformer + text
    # encoder with the emotion-word contrast (the head's loss with the clip's own prompt must beat
    # the loss with its emotions swapped), on 1,200 clips of the same latent space. Chosen on the
    # validation prompts (mean of the four headline scores 50.5 against 49.8; emotion 31.6 %
    # against 28.6 %, the others unchanged or within a frame count). A run with the head's latents
    # weighted 9x instead (`--dit-face-weight 8`, lr 1e-4) left `probe_words.py` where it
    # was after about 600 steps and was stopped.
    W5="$W-contrast"
    "$PY" "$T" import --work "$W5" --model "$OUT"
    "$PY" "$T" latents --work "$W5" --device cpu --threads 2 --clips 1200
    "$PY" "$T" dit --work "$W5" --device cpu --threads 2 --minutes 50 --dit-batch 8 --dit-lr 1e-4 --lr-end 2e-5 \
        --warmup 30 --ema 0.995 --dit-word-contrast 1 --dit-contrast-margin 0.02 --log-every 10 --save-minutes 8
    "$PY" "$T" save --work "$W5" --out "$OUT" --guidance 2.5
    # Sixth sitting, on one NVIDIA H100 (about 9 minutes of stages): the emotion-word contrast of
    # the fifth sitting at batch 64 on 8,000 clips, 1,002 steps and then 678 at a lower rate. It
    # shared the GPU with a second run that swapped the actions in half of the contrasted prompts
    # (`--dit-contrast-words both`; validation mean 51.9 against 52.3, not kept), so alone the
    # same minutes reach more steps. Guidance stays 2.5 (validation mean 52.3 against 52.1 at 3.5).
    W6="$W-contrast-gpu"
    "$PY" "$T" import --work "$W6" --model "$OUT"
    "$PY" "$T" latents --work "$W6" "${G[@]}" --clips 8000 --latent-batch 64
    C=(--dit-batch 64 --ema 0.998 --amp bf16 --dit-word-contrast 1 --dit-contrast-margin 0.02
       --dit-contrast-words emotions --save-minutes 1)
    "$PY" "$T" dit --work "$W6" "${G[@]}" "${C[@]}" --minutes 5.27 --dit-lr 1.5e-4 --lr-end 2e-5 --warmup 100 \
        --log-every 50
    "$PY" "$T" dit --work "$W6" "${G[@]}" "${C[@]}" --minutes 3.6 --dit-lr 5e-5 --lr-end 1e-5 --warmup 1 \
        --log-every 100
    "$PY" "$T" save --work "$W6" --out "$OUT" --guidance 2.5
    # Not kept: 30 minutes on 2 CPU cores of `--dit-contrast-words order` from these weights
    # (about 330 steps, batch 8) left `probe_words.py --words shots` at chance; validation 50.9.
    # Not kept: 55 minutes on 2 CPU cores of the decoder alone from these weights (`vae
    # --vae-decoder-only --vae-batch 2 --vae-latent-frames 8 --vae-lr 1e-4 --vae-face-weight 8
    # --vae-temporal-weight 1 --vae-gan-weight 0.5 --vae-gan-start 150`, 1,105 steps) raised the
    # validation VAE ceiling for emotion from 73.3 % to 75.8 % but left the generated clips' 56.6 %.
    # Not kept: 45 minutes on 2 CPU cores of image-to-video training from these weights (`latents
    # --clips 1200`, then `dit --dit-batch 8 --dit-lr 1e-4 --lr-end 2e-5 --warmup 30 --ema 0.995
    # --dit-image-share 0.5`, 910 steps): validation from the first frame 29 spurious cuts instead
    # of 61 but emotion 34.1 % (40.3 %), and shot by shot with beats emotion 50.4 % (56.6 %).
    # Ninth sitting, on one NVIDIA H100 (8 minutes of stages against one deadline, sitting9.sh):
    # the whole VAE, encoder too, fine-tuned from these weights for 3 minutes (batch 8 of 33-frame
    # windows, lr 1.5e-4, the head's pixels 9x, flicker, KL, `--vae-anchor-weight 0.1` to the
    # starting encoder, the discriminator from step 60), while the transformer continued on the
    # old latents with the contrast (candidate c1); then 8,000 clips encoded by the new encoder
    # and the transformer continued from c1's checkpoint on them (`--adopt-latents`, candidate
    # c2). Kept: c2. Validation with shots and beats: emotion 69.3 % (c1 61.7 %, before 56.6 %),
    # colour 98.4 %, motion 100 %, cuts 17 of 19 (c1 17, before 16). Not kept: c2 continued for
    # 50 more steps in a second, shorter call (import, 4,000 clips, `dit --minutes 0.6 --dit-lr
    # 1e-4 --lr-end 1e-5 --warmup 20`): emotion 68.2 %, cuts 18 of 19, motion 54 of 55.
    W9="$W-whole-vae"
    bash "$(dirname "$0")/sitting9.sh" "$PY" "$OUT" "$W9" "$W9/candidates" cuda 480 180 8000 4000 "$WORKERS"
    rm -rf "$OUT.next" && cp -R "$W9/candidates/c2" "$OUT.next" && rm -rf "$OUT" && mv "$OUT.next" "$OUT"
    # Not kept: 75 minutes on 2 CPU cores of the decoder alone from these weights (`vae
    # --vae-decoder-only --vae-decoder-sample --vae-batch 2 --vae-latent-frames 8 --vae-lr 1e-4
    # --vae-face-weight 8 --vae-start-weight 3 --vae-temporal-weight 1 --vae-gan-weight 0.5
    # --vae-gan-start 150`, 1,473 steps) raised the validation VAE ceiling for emotion from 77.1 %
    # to 79.7 % but left the generated clips at 68.4 % (69.3 % before).
    # Not kept: 58 minutes on 2 CPU cores of the transformer trained with beats from these weights
    # (`latents --clips 1600`, then `dit --dit-batch 8 --dit-lr 5e-5 --lr-end 1e-5 --warmup 50
    # --dit-beat-share 1 --dit-word-contrast 1`, 615 steps): validation emotion with shots and
    # beats at guidance 2 69.3 % (70.1 % before), cuts 17 of 19 (18).
    # Guidance 2 instead of 2.5, chosen on the validation prompts with shots and beats (mean of the
    # four headline scores 91.0 against 89.3 at 2.5 and 90.5 at 1.5), in kinema.json and in the
    # model card's "Recommended settings". And a lead-in of 5 frames (kept frames start after the
    # first latent frame and the chunk after it), chosen on the same prompts with shots and beats
    # over seeds 0-47 and 100-147: emotion 73.2 % against 68.8 % without and 71.3 % with 1 frame.
    "$PY" -c 'import json, sys; p = sys.argv[1] + "/kinema.json"; k = json.load(open(p)); old = json.dumps(k)
k["guidance"] = 2.0
k["lead_in_frames"] = 5
open(p, "w").write(json.dumps(k, indent=2) + "\n")
c = sys.argv[1] + "/MODEL_CARD.md"; card = open(c).read(); open(c, "w").write(card.replace(old, json.dumps(k)))' "$OUT"
    exit 0
fi

# Tokenizer on 20,000 generated prompts.
"$PY" "$T" tokenizer --work "$W" --prompts 20000 --threads "$THREADS"
# VAE: 9-frame windows, then a faster learning rate, then 17- and 41-frame windows so that the
# causal caches also learn the later chunks of long clips (trained on short windows only, the
# colours of long clips drifted from a few latent frames past the window on).
"$PY" "$T" vae --work "$W" --minutes 20 --vae-batch 4 --vae-latent-frames 2 --vae-lr 3e-4 --threads "$THREADS"
"$PY" "$T" vae --work "$W" --minutes 22 --vae-batch 4 --vae-latent-frames 2 --vae-lr 1e-3 --threads "$THREADS"
"$PY" "$T" vae --work "$W" --minutes 12 --vae-batch 4 --vae-latent-frames 4 --vae-lr 5e-4 --threads "$THREADS"
"$PY" "$T" vae --work "$W" --minutes 10 --vae-batch 2 --vae-latent-frames 10 --vae-lr 5e-4 --threads "$THREADS"
# Latents of 600 training clips, then the transformer and text encoder.
"$PY" "$T" latents --work "$W" --clips 600 --threads "$THREADS"
"$PY" "$T" dit --work "$W" --minutes 40 --dit-batch 8 --dit-lr 6e-4 --warmup 40 --ema 0 --threads "$THREADS"
# More steps at the same rate, now keeping the weight average that `save` exports, then half
# the rate to settle.
"$PY" "$T" dit --work "$W" --minutes 85 --dit-batch 8 --dit-lr 6e-4 --warmup 40 --ema 0.998 --threads "$THREADS"
"$PY" "$T" dit --work "$W" --minutes 35 --dit-batch 8 --dit-lr 3e-4 --warmup 40 --ema 0.998 --threads "$THREADS"
# The decoder alone on whole 8-second clips (65 frames; the encoder, and so the latents the
# transformer learned, stay as they are): sharper faces, less colour flicker.
"$PY" "$T" vae --work "$W" --vae-decoder-only --minutes 12 --vae-batch 1 --vae-latent-frames 16 --vae-lr 3e-4 --threads "$THREADS"
"$PY" "$T" save --work "$W" --out "$OUT"
