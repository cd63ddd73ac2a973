#!/usr/bin/env bash
# Creates the virtualenv used to generate reference fixtures (never needed by CI).
# Usage: tools/reference/setup-venv.sh [VENV_DIR]   (default: tools/reference/.venv)
set -euo pipefail
venv="${1:-$(dirname "$0")/.venv}"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --upgrade pip
"$venv/bin/pip" install -q torch diffusers transformers accelerate sentencepiece protobuf safetensors numpy
"$venv/bin/python" -c "import torch, diffusers, transformers; print('torch', torch.__version__, 'diffusers', diffusers.__version__, 'transformers', transformers.__version__)"
