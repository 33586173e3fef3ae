#!/usr/bin/env bash
# Side-by-side fidelity check on any dataset: the notebook's method in PyTorch against tessera,
# same backbone weights, joined on (file, x, y).
#   bash bench/fidelity.sh DATA_DIR [BACKBONE] [LEVEL]      (BACKBONE: efficientnet_b0 | efficientnet-lite0 | any timm name)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
data="$(cd "$1" && pwd)"; backbone="${2:-efficientnet_b0}"; level="${3:-4}"
work="$(mktemp -d)"
bash "$root/infra/setup.sh"
bash "$root/infra/setup-export.sh"
py="$root/.venv-py/bin/python"
"$py" -W ignore "$root/infra/export_model.py" --backbone "$backbone" --out "$work/model.onnx" > /dev/null 2>&1
"$py" -W ignore "$root/bench/reference/notebook_vectors.py" --data "$data" --out "$work/reference.parquet" --backbone "$backbone" --level "$level"
for batch in 1 32; do
  node "$root/bin/tessera.js" run --quiet --data "$data" --out "$work/tessera-b$batch" --model "$work/model.onnx" --output "$level" --batch-size "$batch" > /dev/null
  echo "batch $batch: $("$py" "$root/bench/reference/compare_vectors.py" "$work/tessera-b$batch/vectors.parquet" "$work/reference.parquet" || true)"
done
echo "outputs in $work"
