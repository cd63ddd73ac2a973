#!/usr/bin/env bash
# Wan2.1-1.3B DiT forward pass: Kinema beside diffusers/PyTorch (CPU, float32), back to back on
# the same machine, with the same shapes and random weights. Prints both reports and the ratio.
#
# Usage: tools/bench/dit.sh [--layers N] [--runs R] [--threads T] [--text-rows K]
# PYTHON selects the interpreter of the reference virtualenv (tools/reference/setup-venv.sh);
# default tools/reference/.venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-tools/reference/.venv/bin/python}"
if [ ! -x "$PYTHON" ]; then
    echo "dit.sh: no Python at $PYTHON; create it with tools/reference/setup-venv.sh or set PYTHON" >&2
    exit 2
fi
swift build -c release --product kinema-bench >/dev/null

echo "== PyTorch =="
torch_out="$("$PYTHON" tools/bench/dit_torch.py "$@")"
echo "$torch_out"
echo "== Kinema =="
kinema_out="$(.build/release/kinema-bench dit "$@")"
echo "$kinema_out"

field() { sed -n "s/^RESULT.*$2=\([0-9.]*\).*/\1/p" <<<"$1"; }
kt="$(field "$kinema_out" seconds)"; tt="$(field "$torch_out" seconds)"
kr="$(field "$kinema_out" peak_rss_gb)"; kw="$(field "$kinema_out" weights_gb)"
echo "== Summary =="
awk -v k="$kt" -v t="$tt" -v r="$kr" -v w="$kw" 'BEGIN {
    printf "forward: Kinema %.3f s, PyTorch %.3f s, ratio %.2f (Kinema / PyTorch)\n", k, t, k / t
    printf "Kinema peak RSS %.2f GB = weights %.2f GB + %.2f GB\n", r, w, r - w
}'
