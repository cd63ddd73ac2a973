#!/usr/bin/env bash
# Wan2.1 VAE decode at the real dimensions with random weights: Kinema (kinema-bench vae) and
# diffusers' AutoencoderKLWan (CPU, float32) on the same case, one after the other; prints
# both result lines and the ratio of their wall-clock times.
#
# Usage: tools/bench/vae.sh [--frames N] [--height H] [--width W] [--threads N] [--budget MiB]
#   defaults: 21 latent frames (81 video frames) at 480x832. The Python interpreter is
#   $PYTHON, by default the venv from tools/reference/setup-venv.sh.
# On a shared machine wall-clock times move with the load; the lines also give CPU seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
python="${PYTHON:-tools/reference/.venv/bin/python}"

swift build -c release --product kinema-bench >/dev/null
kinema=$(.build/release/kinema-bench vae "$@" | tee >(cat >&2) | grep '^kinema:')
torch=$("$python" tools/bench/vae_torch.py "$@" | tee >(cat >&2) | grep '^torch:')

echo
echo "$kinema"
echo "$torch"
awk -v k="$(echo "$kinema" | awk '{print $2}')" -v t="$(echo "$torch" | awk '{print $2}')" \
    'BEGIN { printf "torch / kinema wall-clock time: %.2f (above 1: kinema is faster)\n", t / k }'
