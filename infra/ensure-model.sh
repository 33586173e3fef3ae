#!/usr/bin/env bash
# Makes sure the default model exists: timm efficientnet_b0 with random weights (no model hub is
# reachable here), every feature level as an output (level_4: 320 channels, 8×8 at 256×256).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
model="$root/models/efficientnet_b0.onnx"
[ -s "$model" ] && exit 0
bash "$root/infra/setup-python.sh"
"$root/.venv-py/bin/python" "$root/infra/export_model.py" --backbone efficientnet_b0 --out "$model" 2>&1 \
  | grep -v -i -e 'DeprecationWarning' -e 'torch.onnx.export(' || true
[ -s "$model" ] || { echo "ensure-model: export failed, $model is missing" >&2; exit 1; }
