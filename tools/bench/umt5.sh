#!/usr/bin/env bash
# UMT5-XXL prompt encoding (Wan's text encoder) on the CPU: Kinema beside transformers'
# UMT5EncoderModel, same shapes, random bf16 weights built in memory, one after the other
# (never at the same time: each needs ~11.5 GB at 24 layers).
#
# Usage: tools/bench/umt5.sh [--layers N] [--tokens N] [--runs N] [--threads N] [--padded]
# PYTHON names the interpreter of the virtualenv made by tools/reference/setup-venv.sh
# (default: tools/reference/.venv/bin/python).
#
# transformers runs in bfloat16, what from_pretrained's default dtype="auto" gives for Wan's
# bf16 text_encoder/ checkpoint, and in float32 when the float32 model fits in memory
# (about 23 GB at 24 layers; use --layers to compare at a smaller depth). --padded adds
# transformers in bfloat16 on the prompt padded to 512 tokens with its mask, as the Wan
# pipelines (diffusers and the original release) call it; Kinema encodes only real tokens.
set -euo pipefail
cd "$(dirname "$0")/../.."
PYTHON="${PYTHON:-tools/reference/.venv/bin/python}"
layers=24
padded=0
args=()
for arg in "$@"; do
    if [[ "$arg" == "--padded" ]]; then padded=1; else args+=("$arg"); fi
done
for ((i = 0; i < ${#args[@]}; i++)); do
    if [[ "${args[$i]}" == "--layers" && $((i + 1)) -lt ${#args[@]} ]]; then layers="${args[$((i + 1))]}"; fi
done
set -- "${args[@]+"${args[@]}"}"

swift build -c release --product kinema-bench >/dev/null

# Parameters: embedding 256384×4096 and 193 M per layer; bf16 needs 2 bytes each, float32 4,
# plus ~1 GB of activations and runtime. Each run is refused rather than started when it would
# not fit in what the machine has available now.
params=$((1050132480 + layers * 192937984))
available() { echo $(( $(sed -n 's/^MemAvailable: *\([0-9]*\) kB/\1/p' /proc/meminfo) * 1024 )); }
fits() { (( $1 < $(available) * 9 / 10 )); }
if ! fits $((params * 2 + 1000000000)); then
    echo "umt5.sh: $((params * 2 / 1000000000 + 1)) GB needed for bf16 weights, $(( $(available) / 1000000000 )) GB available; try --layers N" >&2
    exit 1
fi

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p" <<<"$2"; }
echo "== Kinema"
kinema=$(.build/release/kinema-bench umt5 "$@" | tee >(cat >&2) | grep '^RESULT')
echo "== transformers, bfloat16"
fits $((params * 2 + 1000000000)) || { echo "umt5.sh: not enough memory left for the transformers run" >&2; exit 1; }
bf16=$("$PYTHON" tools/bench/umt5_torch.py --dtype bfloat16 "$@" | tee >(cat >&2) | grep '^RESULT')

pad=""
if (( padded )); then
    echo "== transformers, bfloat16, padded to 512 tokens"
    fits $((params * 2 + 2000000000)) || { echo "umt5.sh: not enough memory left for the padded run" >&2; exit 1; }
    pad=$("$PYTHON" tools/bench/umt5_torch.py --dtype bfloat16 --pad-to 512 "$@" | tee >(cat >&2) | grep '^RESULT')
fi

f32=""
need=$((params * 4 + 1000000000))
if fits $need; then
    echo "== transformers, float32"
    f32=$("$PYTHON" tools/bench/umt5_torch.py --dtype float32 "$@" | tee >(cat >&2) | grep '^RESULT')
else
    echo "== transformers, float32: skipped, needs $((need / 1000000000)) GB, $(( $(available) / 1000000000 )) GB available (try --layers 6)"
fi

echo
echo "UMT5 encoder, $layers layers, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-27s %9s %12s %13s %12s\n" "" "seconds" "time/Kinema" "CPU-seconds" "peak RSS GB"
ks=$(field seconds "$kinema")
row() {
    local s c r
    s=$(field seconds "$2"); c=$(field cpu_seconds "$2"); r=$(field peak_rss_bytes "$2")
    printf "%-27s %9.3f %11.2fx %13.3f %12.2f\n" "$1" "$s" "$(awk "BEGIN{print $s/$ks}")" "$c" "$(awk "BEGIN{print $r/1e9}")"
}
row "Kinema (bf16 weights)" "$kinema"
row "transformers bfloat16" "$bf16"
if [[ -n "$pad" ]]; then row "transformers bf16, 512 pad" "$pad"; fi
if [[ -n "$f32" ]]; then row "transformers float32" "$f32"; fi
