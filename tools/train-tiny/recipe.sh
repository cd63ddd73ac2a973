#!/bin/bash
# The exact sequence of stages that produced the committed models/kinema-tiny, on 2 CPU cores
# (about 4 hours). Every stage is time-budgeted, so a rerun on another machine reaches a
# different step count; the model card records the steps this run reached.
#
#   tools/train-tiny/recipe.sh PYTHON [WORK] [OUT]      (make train-tiny runs it)
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
