#!/usr/bin/env bash
# The ninth sitting's stages (recipe.sh runs them; one H100, 8 minutes): the whole VAE, encoder
# too, fine-tuned from MODEL (anchored to its encoder, head-weighted, with the discriminator)
# while the transformer continues on MODEL's latents with the emotion-word contrast; then the
# transformer continues from there on the new encoder's latents. Two candidates:
#   CANDIDATES/c1: MODEL's VAE + the transformer continued on its latents
#   CANDIDATES/c2: the fine-tuned VAE + the transformer continued on the new latents
# Every stage runs against one deadline, BUDGET_S seconds after the start (the VAE: VAE_S).
#
#   sitting9.sh PYTHON MODEL WORK CANDIDATES DEVICE BUDGET_S VAE_S CLIPS POOL WORKERS [BATCH] [VAE_BATCH]
set -u
PY=$1; M=$2; WORK=$3; OUT=$4; DEV=$5; BUDGET=$6; VAE_S=$7; CLIPS=$8; POOL=$9; WK=${10}; BATCH=${11:-64}
VB=${12:-8}
T="$(dirname "$0")/train.py"
WV=$WORK/vae; WD=$WORK/dit
case "$WORK" in ""|/) echo "sitting9.sh: WORK must be a folder of its own" >&2; exit 2;; esac
rm -rf "$WORK"; mkdir -p "$OUT"
G=(--device "$DEV" --threads 4 --workers "$WK")
C=(--dit-batch "$BATCH" --ema 0.998 --amp bf16 --dit-word-contrast 1 --dit-contrast-margin 0.02
   --dit-contrast-words emotions --save-minutes 0.5 --log-every 50)
T0=$(date +%s); END=$((T0 + BUDGET))
left() { "$PY" -c "import time; print(round(max(0.05, ($END - time.time()) / 60), 3))"; }
stamp() { echo "[$(( $(date +%s) - T0 )) s] $*"; }
"$PY" "$T" import --work "$WV" --model "$M" && "$PY" "$T" import --work "$WD" --model "$M" || exit 1
stamp imported
( "$PY" "$T" latents --work "$WD" "${G[@]}" --clips "$CLIPS" --latent-batch 64 \
  && stamp "B latents done" \
  && "$PY" "$T" dit --work "$WD" "${G[@]}" "${C[@]}" --minutes "$(left)" --dit-lr 1e-4 --lr-end 2e-5 --warmup 50 \
  ; stamp "B dit done" ) >"$OUT/b.log" 2>&1 &
B=$!
"$PY" "$T" vae --work "$WV" "${G[@]}" --pool "$POOL" --minutes "$("$PY" -c "print($VAE_S / 60)")" \
    --vae-batch "$VB" --vae-latent-frames 8 --vae-lr 1.5e-4 --vae-face-weight 8 --vae-temporal-weight 1 \
    --vae-gan-weight 0.5 --vae-gan-start 60 --vae-anchor-weight 0.1 --log-every 20 --save-minutes 1 \
    >"$OUT/a.log" 2>&1
stamp "A vae done"
"$PY" "$T" latents --work "$WV" "${G[@]}" --clips "$CLIPS" --latent-batch 64 >>"$OUT/a.log" 2>&1
stamp "A latents done"
cp "$WD/dit.pt" "$WV/dit.pt"
"$PY" "$T" dit --work "$WV" "${G[@]}" "${C[@]}" --adopt-latents --minutes "$(left)" --dit-lr 1e-4 --lr-end 2e-5 \
    --warmup 20 >>"$OUT/a.log" 2>&1
stamp "A dit done"
wait "$B"
stamp "B joined"
"$PY" "$T" save --work "$WD" --out "$OUT/c1" --guidance 2.5 >>"$OUT/b.log" 2>&1 &
"$PY" "$T" save --work "$WV" --out "$OUT/c2" --guidance 2.5 >>"$OUT/a.log" 2>&1
wait
stamp saved
cp "$WV/log.jsonl" "$OUT/a.jsonl"; cp "$WD/log.jsonl" "$OUT/b.jsonl"
